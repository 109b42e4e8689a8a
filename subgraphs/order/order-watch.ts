import { mapSource, type AsyncQueue } from '../../platform/async-queue';
import type { LiveSubscription } from '../../platform/pubsub';
import { isOrderStatus, LIFECYCLE_STEPS } from './order-lifecycle';
import type { OrderRecord } from './store/port';

/** What is published on an order's topic after each committed status change. */
export interface OrderUpdatedMessage {
  id: string;
  status: string;
  /** When the order changed (ISO 8601). */
  updatedAt: string;
  /** LIFECYCLE_STEPS of `status`: what subscribers order messages by. */
  step: number;
}

export function orderUpdatedMessage(order: OrderRecord): OrderUpdatedMessage {
  return { id: order.id, status: order.status, updatedAt: order.updatedAt.toISOString(), step: LIFECYCLE_STEPS[order.status] };
}

/**
 * One watcher's view of an order: the order as it was when watching began, then the order
 * each time a message says it moved on. Each message is read back from the store (so the
 * order is whole and current), and anything not strictly later in the lifecycle than what
 * this watcher last got is dropped: a message that arrives late (two replicas publishing,
 * a store read that already saw the next change) never shows an older status after a newer one.
 * Ending the watch unsubscribes at once.
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
    const order = await read();
    if (!order || LIFECYCLE_STEPS[order.status] <= lastStep) return undefined;
    lastStep = LIFECYCLE_STEPS[order.status];
    return order;
  });
  watch.push(current);
  return watch;
}
