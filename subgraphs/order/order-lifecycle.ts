import { ShopError } from '../../platform/errors';

/** Every status an order can be in; the schema's `OrderStatus` and the store's CHECK list the same names. */
export const ORDER_STATUSES = [
  'PENDING',
  'CONFIRMED',
  'REJECTED',
  'PAYMENT_FAILED',
  'CANCELLED',
  'SHIPPED',
  'DELIVERED',
  'REFUNDED',
] as const;

export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** What can happen to an order; each names the outcome of a checkout step or a shop action. */
export const ORDER_EVENTS = [
  /** Stock is reserved and payment authorized. */
  'CONFIRM',
  /** Inventory could not reserve every line. */
  'REJECT',
  /** The payment provider declined or failed. */
  'FAIL_PAYMENT',
  /** The customer or the shop called the order off before it shipped. */
  'CANCEL',
  /** The parcel left the warehouse. */
  'SHIP',
  /** The parcel reached the customer. */
  'DELIVER',
  /** The money went back to the customer after delivery. */
  'REFUND',
] as const;

export type OrderEvent = (typeof ORDER_EVENTS)[number];

/**
 * The whole order lifecycle: for each status, the events it accepts and the status each
 * leads to. An event missing from a status's row is refused; that is the only guard,
 * so no service checks statuses on its own. Statuses with an empty row are final.
 */
export const ORDER_LIFECYCLE: { readonly [S in OrderStatus]: { readonly [E in OrderEvent]?: OrderStatus } } = {
  PENDING: { CONFIRM: 'CONFIRMED', REJECT: 'REJECTED', FAIL_PAYMENT: 'PAYMENT_FAILED', CANCEL: 'CANCELLED' },
  // Cancelling a confirmed order releases its stock and voids its payment; once shipped it can only be refunded.
  CONFIRMED: { SHIP: 'SHIPPED', CANCEL: 'CANCELLED' },
  SHIPPED: { DELIVER: 'DELIVERED' },
  DELIVERED: { REFUND: 'REFUNDED' },
  REJECTED: {},
  PAYMENT_FAILED: {},
  CANCELLED: {},
  REFUNDED: {},
};

export function isOrderStatus(value: unknown): value is OrderStatus {
  return typeof value === 'string' && (ORDER_STATUSES as readonly string[]).includes(value);
}

/** The status `event` moves an order in `from` to, or `undefined` when the lifecycle refuses it. */
export function nextStatus(from: OrderStatus, event: OrderEvent): OrderStatus | undefined {
  return ORDER_LIFECYCLE[from][event];
}

/** The status `event` moves an order in `from` to; CONFLICT when the lifecycle refuses it. */
export function transition(from: OrderStatus, event: OrderEvent): OrderStatus {
  const to = nextStatus(from, event);
  if (!to) {
    throw new ShopError('CONFLICT', `An order that is ${from} cannot take the ${event} event.`, { status: from, event });
  }
  return to;
}

/** Events an order in `status` accepts now, in lifecycle order. */
export function allowedEvents(status: OrderStatus): OrderEvent[] {
  return ORDER_EVENTS.filter((event) => nextStatus(status, event) !== undefined);
}

/** A final status accepts no event. */
export function isFinal(status: OrderStatus): boolean {
  return allowedEvents(status).length === 0;
}
