import type { Logger } from '../logger';
import { LocalTopics, encodeMessage } from './local';
import type { LiveSubscription, PubSub, PubSubOptions } from './port';

/**
 * Live updates within one process, for the embedded shop: a publish reaches this
 * instance's subscribers only. Messages still go through JSON, so what a subscriber
 * receives is what it would receive over Redis, and no subscriber shares an object with
 * the publisher.
 */
export class InProcessPubSub implements PubSub {
  private readonly topics: LocalTopics;
  private closed = false;

  constructor(logger: Logger, options: PubSubOptions = {}) {
    this.topics = new LocalTopics(logger, { join: () => Promise.resolve(), leave: () => {} }, options.bufferSize);
  }

  async publish(topic: string, message: unknown): Promise<void> {
    if (this.closed) throw new Error('pub/sub is closed');
    const text = encodeMessage(message);
    if (this.topics.count(topic) > 0) this.topics.deliver(topic, JSON.parse(text));
  }

  subscribe(topic: string): LiveSubscription {
    return this.topics.add(topic);
  }

  subscriberCount(topic: string): number {
    return this.topics.count(topic);
  }

  droppedCount(): number {
    return this.topics.droppedCount;
  }

  async ready(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.topics.close();
  }
}
