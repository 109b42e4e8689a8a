import type { Logger } from '../logger';
import { DEFAULT_BUFFER_SIZE, type LiveSubscription } from './port';

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

function ignore(): void {}

/**
 * The JSON text of a message; both adapters send this form, so a subscriber receives the
 * same thing whichever adapter carries it.
 */
export function encodeMessage(message: unknown): string {
  const text = JSON.stringify(message) as string | undefined;
  if (text === undefined) throw new TypeError('a live message must be JSON-serializable');
  return text;
}

/** How an adapter joins and leaves a topic beyond this process. */
export interface TopicHooks {
  /** The first local subscriber of `topic` arrived; resolves when messages from elsewhere reach it. */
  join(topic: string): Promise<void>;
  /** The last local subscriber of `topic` left. */
  leave(topic: string): void;
}

interface Waiter {
  resolve(result: IteratorResult<unknown>): void;
  reject(error: unknown): void;
}

/** A subscriber's bounded queue, pulled through the async iterator protocol. */
class TopicSubscriber implements LiveSubscription {
  private readonly buffer: unknown[] = [];
  private readonly waiters: Waiter[] = [];
  private ended = false;
  /** Why the subscription ended, for the next `next()` call when nobody was waiting. */
  private failure: { error: unknown } | undefined;
  /** Dropping since the buffer last ran empty: one warning per episode, not per message. */
  private overflowing = false;
  dropped = 0;

  constructor(
    readonly topic: string,
    readonly listening: Promise<void>,
    private readonly capacity: number,
    private readonly owner: LocalTopics,
  ) {}

  push(message: unknown): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter) return waiter.resolve({ value: message, done: false });
    this.buffer.push(message);
    if (this.buffer.length <= this.capacity) return;
    this.buffer.shift();
    this.dropped += 1;
    this.owner.dropped(this, !this.overflowing);
    this.overflowing = true;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.buffer.length) {
      const value = this.buffer.shift();
      if (this.buffer.length === 0) this.overflowing = false;
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<unknown>> {
    this.end();
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<unknown>> {
    this.end();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Stops the subscription: what is buffered is discarded, a waiting `next()` gets done (or `error`). */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.buffer.length = 0;
    const waiters = this.waiters.splice(0);
    if (error !== undefined && waiters.length === 0) this.failure = { error };
    for (const [index, waiter] of waiters.entries()) {
      if (error !== undefined && index === 0) waiter.reject(error);
      else waiter.resolve(DONE);
    }
    this.owner.remove(this);
  }
}

interface Topic {
  subscribers: Set<TopicSubscriber>;
  listening: Promise<void>;
  /** Whether `listening` is still pending: publishes on this instance wait for it. */
  joining: boolean;
}

/**
 * The subscribers of one PubSub instance by topic, and their fan-out: shared by every
 * adapter, which only says how a topic is joined and left beyond this process.
 */
export class LocalTopics {
  private readonly topics = new Map<string, Topic>();
  private droppedTotal = 0;
  private closed = false;

  constructor(
    private readonly logger: Logger,
    private readonly hooks: TopicHooks,
    private readonly capacity = DEFAULT_BUFFER_SIZE,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`bufferSize must be a positive integer, not ${capacity}`);
  }

  add(topic: string): LiveSubscription {
    if (this.closed) throw new Error('pub/sub is closed');
    let entry = this.topics.get(topic);
    if (!entry) entry = this.join(topic);
    const subscriber = new TopicSubscriber(topic, entry.listening, this.capacity, this);
    entry.subscribers.add(subscriber);
    return subscriber;
  }

  /** Hands `message` to every local subscriber of `topic`; returns how many. */
  deliver(topic: string, message: unknown): number {
    const entry = this.topics.get(topic);
    if (!entry) return 0;
    for (const subscriber of entry.subscribers) subscriber.push(message);
    return entry.subscribers.size;
  }

  count(topic: string): number {
    return this.topics.get(topic)?.subscribers.size ?? 0;
  }

  /** Pending until this instance's subscribers of `topic` hear messages from elsewhere; undefined when nothing is pending. */
  joining(topic: string): Promise<void> | undefined {
    const entry = this.topics.get(topic);
    return entry?.joining ? entry.listening : undefined;
  }

  get droppedCount(): number {
    return this.droppedTotal;
  }

  /** Ends every subscription without leaving topics one by one: the adapter is disconnecting. */
  close(): void {
    this.closed = true;
    for (const entry of [...this.topics.values()]) {
      for (const subscriber of [...entry.subscribers]) subscriber.end();
    }
    this.topics.clear();
  }

  /** Called by a subscriber whose buffer overflowed; `first` when it starts dropping after having kept up. */
  dropped(subscriber: TopicSubscriber, first: boolean): void {
    this.droppedTotal += 1;
    if (first) {
      this.logger.warn(
        { topic: subscriber.topic, bufferSize: this.capacity, dropped: subscriber.dropped },
        'live subscriber is not keeping up; dropping its oldest messages',
      );
    }
  }

  /** Called by a subscriber that ended. */
  remove(subscriber: TopicSubscriber): void {
    const entry = this.topics.get(subscriber.topic);
    if (!entry?.subscribers.delete(subscriber) || entry.subscribers.size > 0) return;
    this.topics.delete(subscriber.topic);
    if (!this.closed) this.hooks.leave(subscriber.topic);
  }

  private join(topic: string): Topic {
    const entry: Topic = { subscribers: new Set(), listening: Promise.resolve(), joining: true };
    entry.listening = this.hooks.join(topic).then(
      () => {
        entry.joining = false;
      },
      (error: unknown) => {
        entry.joining = false;
        if (this.topics.get(topic) === entry && !this.closed) {
          this.logger.error({ err: error, topic }, 'cannot subscribe to live topic; ending its subscriptions');
          for (const subscriber of [...entry.subscribers]) subscriber.end(error);
        }
        throw error;
      },
    );
    // Awaited by whoever wants to know; nobody awaiting it is no unhandled rejection.
    entry.listening.catch(ignore);
    this.topics.set(topic, entry);
    return entry;
  }
}
