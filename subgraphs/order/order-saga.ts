/**
 * The order subgraph's part in the checkout saga, as pure functions: which lifecycle event
 * each consumed event applies, and which event announces each change of an order.
 */
import { domainEvent, type EventEnvelope, type EventType } from '../../platform/events';
import { money } from '../../platform/money';
import type { OrderEvent } from './order-lifecycle';
import type { NewOrder } from './store/port';

/** The consumer group the order subgraph's replicas share. */
export const ORDER_CONSUMER_GROUP = 'order';

/** The lifecycle event each consumed event applies to the order it is about. */
const REACTIONS = {
  StockReservationFailed: 'REJECT',
  PaymentAuthorized: 'CONFIRM',
  PaymentFailed: 'FAIL_PAYMENT',
  StockReservationExpired: 'EXPIRE',
} as const satisfies Partial<Record<EventType, OrderEvent>>;

/** The event types the order subgraph consumes. */
export const CONSUMED_EVENT_TYPES = Object.keys(REACTIONS) as (keyof typeof REACTIONS)[];

/**
 * The order an event is about and the lifecycle event it applies; null for a type the order
 * subgraph does not consume. A payload without an order id throws: redelivery cannot fix it,
 * so it ends in the dead letters for someone to look at.
 */
export function reactionTo(event: EventEnvelope): { orderId: string; event: OrderEvent } | null {
  if (!Object.prototype.hasOwnProperty.call(REACTIONS, event.type)) return null;
  const orderId = (event.payload as { orderId?: unknown } | null)?.orderId;
  if (typeof orderId !== 'string' || !orderId) throw new Error(`${event.type} event ${event.id} names no order`);
  return { orderId, event: REACTIONS[event.type as keyof typeof REACTIONS] };
}

/**
 * The event that tells the other subgraphs an order took `event`, or null when nobody needs
 * to know (delivery). `cause` is the consumed event that led here, if any: a failed payment
 * passes its reason on.
 */
export function announcement(orderId: string, event: OrderEvent, cause?: EventEnvelope, requestId?: string): EventEnvelope | null {
  switch (event) {
    case 'CONFIRM':
      return domainEvent('OrderConfirmed', orderId, { orderId }, requestId);
    case 'REJECT':
      return domainEvent('OrderRejected', orderId, { orderId, reason: 'OUT_OF_STOCK' }, requestId);
    case 'EXPIRE':
      return domainEvent('OrderRejected', orderId, { orderId, reason: 'RESERVATION_EXPIRED' }, requestId);
    case 'FAIL_PAYMENT': {
      const reason = cause?.type === 'PaymentFailed' ? (cause as EventEnvelope<'PaymentFailed'>).payload.reason : 'PAYMENT_DECLINED';
      return domainEvent('OrderPaymentFailed', orderId, { orderId, reason }, requestId);
    }
    case 'CANCEL':
      return domainEvent('OrderCancelled', orderId, { orderId }, requestId);
    case 'SHIP':
      return domainEvent('OrderShipped', orderId, { orderId }, requestId);
    case 'REFUND':
      return domainEvent('OrderRefunded', orderId, { orderId }, requestId);
    case 'DELIVER':
      return null;
  }
}

/** The event that starts the saga: what inventory reserves and what payment authorizes. */
export function orderPlaced(order: NewOrder, paymentToken: string, requestId?: string): EventEnvelope<'OrderPlaced'> {
  return domainEvent(
    'OrderPlaced',
    order.id,
    {
      orderId: order.id,
      customerId: order.customerId,
      lines: order.lines.map((line) => ({
        productId: line.productId,
        quantity: line.quantity,
        unitPrice: money(line.unitPriceAmount, order.currency),
      })),
      total: money(order.totalAmount, order.currency),
      paymentToken,
    },
    requestId,
  );
}
