import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import type { Logger } from '../logger';
import { quitRedis, redisConnection } from '../redis';
import { LocalTopics, encodeMessage } from './local';
import type { LiveSubscription, PubSub, PubSubOptions } from './port';

export interface RedisPubSubOptions extends PubSubOptions {
  /** redis:// or rediss:// URL of the server. */
  url: string;
  logger: Logger;
  /** Put before every topic to make its channel, so several shops (or test runs) share a server; default `shop:live:`. */
  prefix?: string;
  /**
   * Topics that start with one of these are heard through one pattern subscription per
   * prefix (PSUBSCRIBE), taken when the first of them is subscribed to and held until close,
   * instead of a SUBSCRIBE and an UNSUBSCRIBE per topic: for topics each watched briefly and
   * many a second, as an order's status is from checkout until it is confirmed. The instance
   * then receives every message under the prefix, and drops those nobody here listens to.
   * Default none.
   */
  sharedPrefixes?: readonly string[];
}

function ignore(): void {}

/**
 * Live updates over Redis pub/sub, so a publish on any replica reaches the subscribers
 * of every replica once. Each instance holds two connections: one publishing, and one
 * subscribed to the channels its local subscribers need (SUBSCRIBE when a topic's first
 * local subscriber arrives, UNSUBSCRIBE when its last leaves; one PSUBSCRIBE for all the
 * topics under a shared prefix), fanned out locally. ioredis
 * subscribes again by itself after a reconnect; what was published meanwhile is missed,
 * as pub/sub keeps nothing.
 */
export class RedisPubSub implements PubSub {
  readonly prefix: string;
  private readonly logger: Logger;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly topics: LocalTopics;
  private readonly sharedPrefixes: readonly string[];
  /** The pattern subscription of each shared prefix, once asked for; dropped when it fails, so the next subscriber asks again. */
  private readonly patterns = new Map<string, Promise<void>>();
  /** Resolves when the previous publish has been handed to the connection: publishes leave in call order. */
  private sending: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(options: RedisPubSubOptions) {
    this.prefix = options.prefix ?? 'shop:live:';
    this.logger = options.logger;
    const name = `live-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.publisher = redisConnection(options.url, `${name}-publish`, this.logger, 'publisher');
    this.subscriber = redisConnection(this.publisher, `${name}-subscribe`, this.logger, 'subscriber');
    this.sharedPrefixes = options.sharedPrefixes ?? [];
    this.subscriber.on('message', (channel: string, text: string) => this.receive(channel, text));
    this.subscriber.on('pmessage', (_pattern: string, channel: string, text: string) => this.receive(channel, text));
    this.topics = new LocalTopics(
      this.logger,
      {
        join: async (topic) => {
          const shared = this.sharedPrefixOf(topic);
          if (shared === undefined) await this.subscriber.subscribe(this.channel(topic));
          else await this.sharedPattern(shared);
        },
        leave: (topic) => {
          if (this.sharedPrefixOf(topic) !== undefined) return;
          this.subscriber.unsubscribe(this.channel(topic)).catch((error: unknown) => {
            this.logger.warn({ err: error, topic }, 'cannot unsubscribe from live topic');
          });
        },
      },
      options.bufferSize,
    );
  }

  /** The Redis channel that carries `topic`. */
  channel(topic: string): string {
    return `${this.prefix}${topic}`;
  }

  publish(topic: string, message: unknown): Promise<void> {
    if (this.closing) return Promise.reject(new Error('pub/sub is closed'));
    let text: string;
    try {
      text = encodeMessage(message);
    } catch (error) {
      return Promise.reject(error);
    }
    // A subscriber of this instance that subscribed before this call hears it: wait for its SUBSCRIBE.
    const joining = this.topics.joining(topic)?.catch(ignore);
    const sent = Promise.all([this.sending, joining]).then(() => ({ reply: this.publisher.publish(this.channel(topic), text) }));
    this.sending = sent.then(ignore, ignore);
    return sent.then(({ reply }) => reply).then(ignore);
  }

  subscribe(topic: string): LiveSubscription {
    if (this.closing) throw new Error('pub/sub is closed');
    return this.topics.add(topic);
  }

  subscriberCount(topic: string): number {
    return this.topics.count(topic);
  }

  droppedCount(): number {
    return this.topics.droppedCount;
  }

  async ready(): Promise<boolean> {
    if (this.closing || this.subscriber.status !== 'ready') return false;
    const ping = this.publisher.ping().then(
      (reply) => reply === 'PONG',
      () => false,
    );
    return Promise.race([ping, delay(1_000).then(() => false)]);
  }

  /** Ends every open subscription, then disconnects. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.topics.close();
      await this.sending;
      await Promise.all([this.subscriber, this.publisher].map(quitRedis));
    })());
  }

  private sharedPrefixOf(topic: string): string | undefined {
    return this.sharedPrefixes.find((prefix) => topic.startsWith(prefix));
  }

  private sharedPattern(prefix: string): Promise<void> {
    let held = this.patterns.get(prefix);
    if (!held) {
      // Glob characters in the channel's name stand for themselves.
      const pattern = `${this.channel(prefix).replace(/[*?[\]\\]/g, '\\$&')}*`;
      held = this.subscriber.psubscribe(pattern).then(ignore);
      this.patterns.set(prefix, held);
      held.catch(() => {
        if (this.patterns.get(prefix) === held) this.patterns.delete(prefix);
      });
    }
    return held;
  }

  private receive(channel: string, text: string): void {
    if (!channel.startsWith(this.prefix)) return;
    const topic = channel.slice(this.prefix.length);
    // Still arriving after the last local subscriber left, until the UNSUBSCRIBE is through.
    if (this.topics.count(topic) === 0) return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      this.logger.warn({ topic, length: text.length }, 'malformed live message skipped: not JSON');
      return;
    }
    this.topics.deliver(topic, message);
  }

}


function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
