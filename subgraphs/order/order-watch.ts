import { mapSource, type AsyncQueue } from '../../platform/async-queue';
import type { LiveSubscription } from '../../platform/pubsub';
import { isOrderStatus, LIFECYCLE_STEPS } from './order-lifecycle';
import type { OrderRecord } from './store/port';

/** An order as it travels in a message: its dates as ISO 8601 text. */
export type OrderInMessage = Omit<OrderRecord, 'placedAt' | 'updatedAt'> & { placedAt: string; updatedAt: string };

/** What is published on an order's topic after each committed status change. */
export interface OrderUpdatedMessage {
  id: string;
  status: string;
  /** When the order changed (ISO 8601). */
  updatedAt: string;
  /** LIFECYCLE_STEPS of `status`: what subscribers order messages by. */
  step: number;
  /** The order as that change committed it, so a watcher need not read it back. */
  order?: OrderInMessage;
}

export function orderUpdatedMessage(order: OrderRecord): OrderUpdatedMessage {
  const { placedAt, updatedAt, ...rest } = order;
  return {
    id: order.id,
    status: order.status,
    updatedAt: updatedAt.toISOString(),
    step: LIFECYCLE_STEPS[order.status],
    order: { ...rest, placedAt: placedAt.toISOString(), updatedAt: updatedAt.toISOString() },
  };
}

/** The order a message carries, when it carries a whole one of the watched order. */
function carriedOrder(message: Partial<OrderUpdatedMessage>, orderId: string): OrderRecord | undefined {
  const order = message.order;
  if (!order || order.id !== orderId || order.status !== message.status) return undefined;
  const placedAt = new Date(order.placedAt);
  const updatedAt = new Date(order.updatedAt);
  if (Number.isNaN(placedAt.getTime()) || Number.isNaN(updatedAt.getTime())) return undefined;
  return { ...order, placedAt, updatedAt };
}

/**
 * One watcher's view of an order: the order as it was when watching began, then the order
 * each time a message says it moved on. A message carries the order as its change committed
 * it; one that does not (from a service that publishes only the status) is read back from
 * the store. Anything not strictly later in the lifecycle than what this watcher last got is
 * dropped: a message that arrives late (two replicas publishing, a store read that already
 * saw the next change) never shows an older status after a newer one. Ending the watch
 * unsubscribes at once.
 */
export function watchOrderUpdates(
  subscription: LiveSubscription,
  current: OrderRecord,
  /** The watched order as stored now. */
  read: () => Promise<OrderRecord | null>,
): AsyncQueue<OrderRecord> {
  let lastStep = LIFECYCLE_STEPS[current.status];
  const watch = mapSource(subscription, async (value) => {
    const message = value as Partial<OrderUpdatedMessage> | null;
    if (!message || !isOrderStatus(message.status) || LIFECYCLE_STEPS[message.status] <= lastStep) return undefined;
    const order = carriedOrder(message, current.id) ?? (await read());
    if (!order || LIFECYCLE_STEPS[order.status] <= lastStep) return undefined;
    lastStep = LIFECYCLE_STEPS[order.status];
    return order;
  });
  watch.push(current);
  return watch;
}
