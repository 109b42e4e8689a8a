import { AsyncQueue } from '../async-queue';
import type { Logger } from '../logger';
import { DEFAULT_BUFFER_SIZE, type LiveSubscription } from './port';

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

/** A subscriber: its topic and a bounded queue in which, when full, the oldest message makes room for the newest. */
type TopicSubscriber = AsyncQueue<unknown> & LiveSubscription;

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
    const subscriber: TopicSubscriber = Object.assign(
      new AsyncQueue<unknown>({
        capacity: this.capacity,
        overflow: 'drop-oldest',
        onOverflow: (first) => this.dropped(subscriber, first),
        onEnd: () => this.remove(subscriber),
      }),
      { topic, listening: entry.listening },
    );
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
      // What a subscriber had not read yet is not delivered: closing is for shutdown.
      for (const subscriber of [...entry.subscribers]) void subscriber.return();
    }
    this.topics.clear();
  }

  /** A subscriber's buffer overflowed; `first` when it starts dropping after having kept up. */
  private dropped(subscriber: TopicSubscriber, first: boolean): void {
    this.droppedTotal += 1;
    if (first) {
      this.logger.warn(
        { topic: subscriber.topic, bufferSize: this.capacity, dropped: subscriber.dropped },
        'live subscriber is not keeping up; dropping its oldest messages',
      );
    }
  }

  /** A subscriber ended. */
  private remove(subscriber: TopicSubscriber): void {
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
