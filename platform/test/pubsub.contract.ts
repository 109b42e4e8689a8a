import pino from 'pino';
import type { Logger } from '../logger';
import type { LiveSubscription, PubSub } from '../pubsub/port';
import { sleep, waitFor } from '../testing';

export interface PubSubInstanceOptions {
  bufferSize?: number;
  logger?: Logger;
}

/** A broker that holds nothing from earlier tests. */
export interface PubSubBroker {
  /** A pub/sub on this broker, as one process opens it. */
  open(options?: PubSubInstanceOptions): PubSub;
  /** Closes every instance it opened and removes what the test left behind. */
  release(): Promise<void>;
}

export interface PubSubAdapter {
  name: string;
  /** A fresh broker for one test. */
  broker(): PubSubBroker;
  /** Instances opened on one broker are replicas (separate processes); otherwise `open` returns one instance. */
  replicas: boolean;
  /** How long to wait to be sure no further message comes. */
  quietMs: number;
}



/** The next `count` messages of a subscription; fails when they do not all come within `timeoutMs`. */
export async function take(subscription: LiveSubscription, count: number, timeoutMs = 5_000): Promise<unknown[]> {
  const taken: unknown[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`got ${taken.length} of ${count} messages on ${subscription.topic}: ${JSON.stringify(taken)}`)), timeoutMs);
  });
  try {
    while (taken.length < count) {
      const result = await Promise.race([subscription.next(), timeout]);
      if (result.done) throw new Error(`${subscription.topic} ended after ${taken.length} of ${count} messages`);
      taken.push(result.value);
    }
    return taken;
  } finally {
    clearTimeout(timer);
  }
}

/** Whether a subscription stays silent for `ms` (it is ended afterwards, so the waiting `next()` settles). */
export async function staysQuiet(subscription: LiveSubscription, ms: number): Promise<unknown> {
  const next = subscription.next().then((r) => (r.done ? 'ended' : r.value));
  const outcome = await Promise.race([next, sleep(ms).then(() => 'quiet')]);
  await subscription.return();
  return outcome;
}

/** What every PubSub adapter must do; run against each available adapter. */
export function pubSubContract(adapter: PubSubAdapter) {
  let broker: PubSubBroker;
  beforeEach(() => {
    broker = adapter.broker();
  });
  afterEach(() => broker.release());

  it('delivers what is published after subscribing, in publish order, and nothing of other topics', async () => {
    const pubsub = broker.open();
    await pubsub.publish('order:1', { status: 'PENDING' });
    const subscription = pubsub.subscribe('order:1');
    await subscription.listening;
    await pubsub.publish('order:2', { status: 'CONFIRMED' });
    const statuses = ['CONFIRMED', 'SHIPPED', 'DELIVERED', 'REFUNDED'];
    for (const status of statuses) await pubsub.publish('order:1', { status });
    await pubsub.publish('stock:1', { available: 3 });

    expect(await take(subscription, 4)).toEqual(statuses.map((status) => ({ status })));
    expect(await staysQuiet(subscription, adapter.quietMs)).toBe('quiet');
  });

  it('keeps the order of publishes not awaited one by one', async () => {
    const pubsub = broker.open();
    const subscription = pubsub.subscribe('stock:p-1');
    const levels = Array.from({ length: 200 }, (_, n) => ({ available: n }));
    // Not awaiting `listening`: a publish on the same instance waits for the subscription itself.
    await Promise.all(levels.map((level) => pubsub.publish('stock:p-1', level)));
    expect(await take(subscription, levels.length)).toEqual(levels);
    await subscription.return();
  });

  it('delivers the JSON form of a message and refuses what JSON cannot carry', async () => {
    const pubsub = broker.open();
    const subscription = pubsub.subscribe('order:1');
    await subscription.listening;
    const sent = { at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), total: { amount: 1234, currency: 'USD' }, note: undefined, lines: [1, 2] };
    await pubsub.publish('order:1', sent);
    const [received] = await take(subscription, 1);
    expect(received).toEqual({ at: '2026-01-02T03:04:05.000Z', total: { amount: 1234, currency: 'USD' }, lines: [1, 2] });
    expect(received).not.toBe(sent);

    await expect(pubsub.publish('order:1', undefined)).rejects.toThrow(/JSON/);
    await expect(pubsub.publish('order:1', { amount: 10n })).rejects.toThrow(/BigInt/);
    expect(await staysQuiet(subscription, adapter.quietMs)).toBe('quiet');
  });

  it('gives every subscriber of a topic every message once', async () => {
    const pubsub = broker.open();
    const first = pubsub.subscribe('stock:p-1');
    const second = pubsub.subscribe('stock:p-1');
    await Promise.all([first.listening, second.listening]);
    expect(pubsub.subscriberCount('stock:p-1')).toBe(2);
    for (const available of [5, 4, 3]) await pubsub.publish('stock:p-1', { available });

    const expected = [{ available: 5 }, { available: 4 }, { available: 3 }];
    expect(await take(first, 3)).toEqual(expected);
    expect(await take(second, 3)).toEqual(expected);
    expect(await staysQuiet(first, adapter.quietMs)).toBe('quiet');
    expect(await staysQuiet(second, 0)).toBe('quiet');
  });

  it('delivers a message published by one instance once to the subscribers of every instance', async () => {
    const publisher = broker.open();
    const other = broker.open();
    // On Redis these are two replicas; the in-process pub/sub has one instance per process.
    expect(other === publisher).toBe(!adapter.replicas);
    const onOther = other.subscribe('order:7');
    const onPublisher = publisher.subscribe('order:7');
    const alsoOnOther = other.subscribe('order:7');
    await Promise.all([onOther.listening, onPublisher.listening, alsoOnOther.listening]);

    await publisher.publish('order:7', { status: 'SHIPPED' });
    await publisher.publish('order:7', { status: 'DELIVERED' });
    for (const subscription of [onOther, onPublisher, alsoOnOther]) {
      expect(await take(subscription, 2)).toEqual([{ status: 'SHIPPED' }, { status: 'DELIVERED' }]);
    }
    for (const subscription of [onOther, onPublisher, alsoOnOther]) {
      expect(await staysQuiet(subscription, adapter.quietMs)).toBe('quiet');
    }
  });

  it('unsubscribes when the consumer stops iterating, and the others keep receiving', async () => {
    const pubsub = broker.open();
    const leaving = pubsub.subscribe('order:1');
    const staying = pubsub.subscribe('order:1');
    await Promise.all([leaving.listening, staying.listening]);
    const received: unknown[] = [];
    const consuming = (async () => {
      for await (const message of leaving) {
        received.push(message);
        if (received.length === 2) break;
      }
    })();
    for (const n of [1, 2, 3]) await pubsub.publish('order:1', { n });
    await consuming;

    expect(received).toEqual([{ n: 1 }, { n: 2 }]);
    expect(pubsub.subscriberCount('order:1')).toBe(1);
    expect(await leaving.next()).toEqual({ value: undefined, done: true });
    await pubsub.publish('order:1', { n: 4 });
    expect(await take(staying, 4)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);

    await staying.return();
    expect(pubsub.subscriberCount('order:1')).toBe(0);
    // A topic left by everyone can be joined again.
    const again = pubsub.subscribe('order:1');
    await again.listening;
    await pubsub.publish('order:1', { n: 5 });
    expect(await take(again, 1)).toEqual([{ n: 5 }]);
    await again.return();
    expect(pubsub.subscriberCount('order:1')).toBe(0);
  });

  it('ends every open iteration on close, refuses use afterwards, and closes once', async () => {
    const pubsub = broker.open();
    const waiting = pubsub.subscribe('order:1');
    const buffered = pubsub.subscribe('stock:1');
    const witness = pubsub.subscribe('stock:1');
    await Promise.all([waiting.listening, buffered.listening, witness.listening]);
    expect(await pubsub.ready()).toBe(true);
    await pubsub.publish('stock:1', { available: 1 });
    // Local subscribers of a topic get a message together: once the witness has it, so has `buffered`.
    await take(witness, 1);
    const loop = (async () => {
      const seen: unknown[] = [];
      for await (const message of waiting) seen.push(message);
      return seen;
    })();
    await sleep(20);

    await Promise.all([pubsub.close(), pubsub.close()]);
    expect(await loop).toEqual([]);
    // Closing is for shutdown: what a subscriber had not read yet is not delivered.
    expect(await buffered.next()).toEqual({ value: undefined, done: true });
    expect(pubsub.subscriberCount('order:1')).toBe(0);
    expect(pubsub.subscriberCount('stock:1')).toBe(0);
    expect(await pubsub.ready()).toBe(false);
    expect(() => pubsub.subscribe('order:1')).toThrow(/closed/);
    await expect(pubsub.publish('order:1', {})).rejects.toThrow(/closed/);
    await pubsub.close();
  });

  it('keeps at most bufferSize messages for a subscriber that does not read, dropping the oldest', async () => {
    const warnings: unknown[] = [];
    const logger = captureWarnings(warnings);
    const pubsub = broker.open({ bufferSize: 3, logger });
    const slow = pubsub.subscribe('stock:p-1');
    await slow.listening;
    for (let n = 1; n <= 10; n++) await pubsub.publish('stock:p-1', { available: n });

    await waitFor('7 messages to be dropped', () => slow.dropped === 7);
    expect(pubsub.droppedCount()).toBe(7);
    expect(await take(slow, 3)).toEqual([{ available: 8 }, { available: 9 }, { available: 10 }]);
    // One warning per episode of falling behind, not one per message.
    expect(warnings).toEqual([expect.objectContaining({ topic: 'stock:p-1', bufferSize: 3, dropped: 1 })]);

    // Caught up: falling behind again warns again.
    for (let n = 11; n <= 15; n++) await pubsub.publish('stock:p-1', { available: n });
    await waitFor('2 more messages to be dropped', () => slow.dropped === 9);
    expect(await take(slow, 3)).toEqual([{ available: 13 }, { available: 14 }, { available: 15 }]);
    expect(warnings).toHaveLength(2);
    await slow.return();
  });

  it('holds 1000 messages per subscriber by default', async () => {
    const pubsub = broker.open();
    const slow = pubsub.subscribe('stock:p-2');
    await slow.listening;
    await Promise.all(Array.from({ length: 1003 }, (_, n) => pubsub.publish('stock:p-2', n)));
    await waitFor('3 messages to be dropped', () => slow.dropped === 3);
    const kept = await take(slow, 1000);
    expect(kept[0]).toBe(3);
    expect(kept[999]).toBe(1002);
    expect(await staysQuiet(slow, adapter.quietMs)).toBe('quiet');
  });
}

/** A logger that records the fields of each warning it is given. */
export function captureWarnings(into: unknown[]): Logger {
  return pino({ level: 'warn' }, { write: (line: string) => void into.push(JSON.parse(line)) });
}
