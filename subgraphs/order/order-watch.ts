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

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

/**
 * One watcher's view of an order: the order as it was when watching began, then the order
 * each time a message says it moved on. Each message is read back from the store (so the
 * order is whole and current), and anything not strictly later in the lifecycle than what
 * this watcher last got is dropped: a message that arrives late (two replicas publishing,
 * a store read that already saw the next change) never shows an older status after a newer one.
 */
export class OrderWatch implements AsyncIterableIterator<OrderRecord> {
  private first: OrderRecord | undefined;
  private lastStep: number;

  constructor(
    private readonly subscription: LiveSubscription,
    current: OrderRecord,
    /** The watched order as stored now. */
    private readonly read: () => Promise<OrderRecord | null>,
  ) {
    this.first = current;
    this.lastStep = LIFECYCLE_STEPS[current.status];
  }

  async next(): Promise<IteratorResult<OrderRecord>> {
    if (this.first) {
      const value = this.first;
      this.first = undefined;
      return { value, done: false };
    }
    for (;;) {
      const step = await this.subscription.next();
      if (step.done) return DONE;
      const message = step.value as Partial<OrderUpdatedMessage> | null;
      if (!message || !isOrderStatus(message.status) || LIFECYCLE_STEPS[message.status] <= this.lastStep) continue;
      const order = await this.read();
      if (!order || LIFECYCLE_STEPS[order.status] <= this.lastStep) continue;
      this.lastStep = LIFECYCLE_STEPS[order.status];
      return { value: order, done: false };
    }
  }

  async return(): Promise<IteratorResult<OrderRecord>> {
    this.first = undefined;
    await this.subscription.return();
    return DONE;
  }

  async throw(error?: unknown): Promise<IteratorResult<OrderRecord>> {
    await this.return();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
