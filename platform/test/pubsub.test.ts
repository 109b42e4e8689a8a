import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { silentLogger } from '../logger';
import { openPubSub } from '../pubsub';
import { InProcessPubSub } from '../pubsub/in-process';
import { orderTopic, stockTopic, type PubSub } from '../pubsub/port';
import { RedisPubSub } from '../pubsub/redis';
import { TEST_REDIS_URL, waitFor } from '../testing';
import { captureWarnings, pubSubContract, staysQuiet, take, type PubSubAdapter, type PubSubBroker, type PubSubInstanceOptions } from './pubsub.contract';

/** A Redis server for tests (the one `.ci/run` starts); absent means those tests are skipped. */

const inProcess: PubSubAdapter = {
  name: 'in-process',
  replicas: false,
  quietMs: 50,
  broker: () => {
    let pubsub: InProcessPubSub | undefined;
    return {
      open: (options = {}) => (pubsub ??= new InProcessPubSub(options.logger ?? silentLogger(), options)),
      release: async () => pubsub?.close(),
    };
  },
};

/** Instances under a channel prefix of their own, so tests and runs sharing a server never hear each other. */
function redisBroker(url: string, sharedPrefixes: string[] = []): PubSubBroker & { prefix: string; admin: Redis } {
  const prefix = `test-${randomBytes(6).toString('hex')}:live:`;
  const instances: PubSub[] = [];
  const admin = new Redis(url);
  return {
    prefix,
    admin,
    open: (options: PubSubInstanceOptions = {}) => {
      const pubsub = new RedisPubSub({ url, prefix, sharedPrefixes, ...options, logger: options.logger ?? silentLogger() });
      instances.push(pubsub);
      return pubsub;
    },
    release: async () => {
      await Promise.all(instances.map((pubsub) => pubsub.close()));
      await admin.quit();
    },
  };
}

function adapters(): PubSubAdapter[] {
  if (!TEST_REDIS_URL) {
    process.stderr.write('SKIPPED: Redis pub/sub tests (set TEST_REDIS_URL)\n');
    return [inProcess];
  }
  const url = TEST_REDIS_URL;
  return [
    inProcess,
    { name: 'redis', replicas: true, quietMs: 150, broker: () => redisBroker(url) },
    // As every process runs it: order topics heard through one pattern subscription.
    { name: 'redis, order topics on a pattern', replicas: true, quietMs: 150, broker: () => redisBroker(url, ['order:']) },
  ];
}

describe.each(adapters())('PubSub on $name', (adapter) => {
  pubSubContract(adapter);
});

describe('topics', () => {
  it('names the topic of an order and of a product stock level', () => {
    expect(orderTopic('0b6c')).toBe('order:0b6c');
    expect(stockTopic('9f1e')).toBe('stock:9f1e');
  });
});

describe('InProcessPubSub', () => {
  it('refuses a buffer that could hold nothing', () => {
    expect(() => new InProcessPubSub(silentLogger(), { bufferSize: 0 })).toThrow(/bufferSize/);
    expect(() => new InProcessPubSub(silentLogger(), { bufferSize: 1.5 })).toThrow(/bufferSize/);
  });

  it('does not share one instance’s messages with another', async () => {
    const a = new InProcessPubSub(silentLogger());
    const b = new InProcessPubSub(silentLogger());
    const onB = b.subscribe('order:1');
    await a.publish('order:1', { status: 'SHIPPED' });
    expect(await staysQuiet(onB, 20)).toBe('quiet');
    await Promise.all([a.close(), b.close()]);
  });

  it('fails a pending iteration with the error it is thrown, and ends it', async () => {
    const pubsub = new InProcessPubSub(silentLogger());
    const subscription = pubsub.subscribe('order:1');
    await expect(subscription.throw(new Error('client went away'))).rejects.toThrow('client went away');
    expect(pubsub.subscriberCount('order:1')).toBe(0);
    expect(await subscription.next()).toEqual({ value: undefined, done: true });
    await pubsub.close();
  });
});

describe('openPubSub', () => {
  it('opens the in-process pub/sub without REDIS_URL and Redis with it, under `<EVENT_STREAM_PREFIX>:live:`', async () => {
    const embedded = openPubSub({ REDIS_URL: undefined, EVENT_STREAM_PREFIX: 'shop' }, silentLogger());
    expect(embedded).toBeInstanceOf(InProcessPubSub);
    await embedded.close();
    const redis = openPubSub({ REDIS_URL: 'redis://127.0.0.1:1', EVENT_STREAM_PREFIX: 'eu-shop' }, silentLogger());
    expect(redis).toBeInstanceOf(RedisPubSub);
    expect((redis as RedisPubSub).channel('order:1')).toBe('eu-shop:live:order:1');
    await redis.close();
  });
});

describe('RedisPubSub', () => {
  it('uses `shop:live:` before every topic by default', async () => {
    const pubsub = new RedisPubSub({ url: 'redis://127.0.0.1:1', logger: silentLogger() });
    expect(pubsub.channel('stock:p-1')).toBe('shop:live:stock:p-1');
    await pubsub.close();
  });

  it('is not ready while its server cannot be reached', async () => {
    const pubsub = new RedisPubSub({ url: 'redis://127.0.0.1:1', logger: silentLogger() });
    expect(await pubsub.ready()).toBe(false);
    await pubsub.close();
  });

  const withRedis = TEST_REDIS_URL ? describe : describe.skip;
  withRedis('on a server', () => {
    const url = TEST_REDIS_URL!;
    let broker: ReturnType<typeof redisBroker>;
    beforeEach(() => {
      broker = redisBroker(url);
    });
    afterEach(() => broker.release());

    /** Subscriber counts the server holds per channel, as PUBSUB NUMSUB reports them. */
    async function serverSubscribers(...topics: string[]): Promise<Record<string, number>> {
      const reply = (await broker.admin.pubsub('NUMSUB', ...topics.map((t) => broker.prefix + t))) as (string | number)[];
      const counts: Record<string, number> = {};
      for (let i = 0; i < reply.length; i += 2) counts[String(reply[i]).slice(broker.prefix.length)] = Number(reply[i + 1]);
      return counts;
    }

    it('holds one server subscription per topic, whatever the number of local subscribers, and drops it when the last leaves', async () => {
      const pubsub = broker.open();
      const subscriptions = [pubsub.subscribe('order:1'), pubsub.subscribe('order:1'), pubsub.subscribe('stock:1')];
      await Promise.all(subscriptions.map((s) => s.listening));
      expect(await serverSubscribers('order:1', 'stock:1')).toEqual({ 'order:1': 1, 'stock:1': 1 });
      const clients = (await broker.admin.client('LIST')) as string;
      const own = clients.split('\n').filter((line) => / name=live-\S+-subscribe /.test(line) && line.includes(`sub=2`));
      expect(own).toHaveLength(1);

      await subscriptions[0]!.return();
      expect(await serverSubscribers('order:1')).toEqual({ 'order:1': 1 });
      await subscriptions[1]!.return();
      await waitFor('the UNSUBSCRIBE', async () => (await serverSubscribers('order:1'))['order:1'] === 0);
      expect(await serverSubscribers('stock:1')).toEqual({ 'stock:1': 1 });
      expect(pubsub.subscriberCount('order:1')).toBe(0);
      await subscriptions[2]!.return();
    });

    it('hears topics under a shared prefix through one pattern subscription, held from the first subscriber to close', async () => {
      const pubsub = broker.open();
      const shared = new RedisPubSub({ url, prefix: broker.prefix, sharedPrefixes: ['order:'], logger: silentLogger() });
      const subscriber = (shared as unknown as { subscriber: Redis }).subscriber;
      const subscribe = jest.spyOn(subscriber, 'subscribe');
      const psubscribe = jest.spyOn(subscriber, 'psubscribe');
      const unsubscribe = jest.spyOn(subscriber, 'unsubscribe');
      try {
        const first = shared.subscribe('order:1');
        const second = shared.subscribe('order:2');
        const stock = shared.subscribe('stock:1');
        await Promise.all([first.listening, second.listening, stock.listening]);
        expect(psubscribe.mock.calls).toEqual([[`${broker.prefix}order:*`]]);
        expect(subscribe.mock.calls).toEqual([[`${broker.prefix}stock:1`]]);
        expect(await serverSubscribers('order:1', 'order:2', 'stock:1')).toEqual({ 'order:1': 0, 'order:2': 0, 'stock:1': 1 });

        // From another instance, each message reaches the subscribers of its own topic only.
        await pubsub.publish('order:2', { status: 'CONFIRMED' });
        await pubsub.publish('order:1', { status: 'REJECTED' });
        await pubsub.publish('order:3', { status: 'PENDING' });
        expect(await take(second, 1)).toEqual([{ status: 'CONFIRMED' }]);
        expect(await take(first, 1)).toEqual([{ status: 'REJECTED' }]);
        expect(shared.subscriberCount('order:3')).toBe(0);

        await first.return();
        await second.return();
        const later = shared.subscribe('order:4');
        await later.listening;
        expect(psubscribe).toHaveBeenCalledTimes(1);
        expect(unsubscribe).not.toHaveBeenCalled();
        await pubsub.publish('order:4', { status: 'CONFIRMED' });
        expect(await take(later, 1)).toEqual([{ status: 'CONFIRMED' }]);
        expect(await staysQuiet(later, 100)).toBe('quiet');
        await stock.return();
      } finally {
        await shared.close();
      }
    });

    it('asks for a shared pattern again after the server refused it', async () => {
      const shared = new RedisPubSub({ url, prefix: broker.prefix, sharedPrefixes: ['order:'], logger: silentLogger() });
      try {
        await waitFor('the connections', () => shared.ready());
        const subscriber = (shared as unknown as { subscriber: Redis }).subscriber;
        jest.spyOn(subscriber, 'psubscribe').mockRejectedValueOnce(new Error('NOPERM this user has no permissions to access one of the channels'));
        const refused = shared.subscribe('order:1');
        await expect(refused.listening).rejects.toThrow(/NOPERM/);
        const again = shared.subscribe('order:1');
        await again.listening;
        await broker.open().publish('order:1', { status: 'CONFIRMED' });
        expect(await take(again, 1)).toEqual([{ status: 'CONFIRMED' }]);
      } finally {
        await shared.close();
      }
    });

    it('publishes JSON on `<prefix><topic>`', async () => {
      const listener = broker.admin.duplicate();
      try {
        const heard: [string, string][] = [];
        listener.on('message', (channel: string, text: string) => heard.push([channel, text]));
        await listener.subscribe(`${broker.prefix}order:9`);
        await broker.open().publish('order:9', { status: 'CONFIRMED', total: { amount: 500, currency: 'USD' } });
        await waitFor('the message', () => heard.length === 1);
        expect(heard).toEqual([[`${broker.prefix}order:9`, '{"status":"CONFIRMED","total":{"amount":500,"currency":"USD"}}']]);
      } finally {
        listener.disconnect();
      }
    });

    it('skips a malformed message with a warning and goes on', async () => {
      const warnings: unknown[] = [];
      const pubsub = broker.open({ logger: captureWarnings(warnings) });
      const subscription = pubsub.subscribe('stock:p-1');
      await subscription.listening;
      await broker.admin.publish(`${broker.prefix}stock:p-1`, '{not json');
      await broker.admin.publish(`${broker.prefix}stock:p-1`, '{"available":2}');

      expect(await take(subscription, 1)).toEqual([{ available: 2 }]);
      expect(warnings).toEqual([expect.objectContaining({ topic: 'stock:p-1', msg: expect.stringMatching(/malformed/) })]);
      expect(await staysQuiet(subscription, 100)).toBe('quiet');
    });

    it('fails the subscriptions of a topic it cannot subscribe to', async () => {
      const pubsub = new RedisPubSub({ url, prefix: broker.prefix, logger: silentLogger() });
      await waitFor('the connections', () => pubsub.ready());
      // Stands for a server refusing SUBSCRIBE (an ACL, say): the connection itself stays up.
      const subscriber = (pubsub as unknown as { subscriber: Redis }).subscriber;
      jest.spyOn(subscriber, 'subscribe').mockRejectedValueOnce(new Error('NOPERM this user has no permissions to access one of the channels'));
      const subscription = pubsub.subscribe('order:1');
      await expect(subscription.listening).rejects.toThrow(/NOPERM/);
      await expect(subscription.next()).rejects.toThrow(/NOPERM/);
      expect(await subscription.next()).toEqual({ value: undefined, done: true });
      expect(pubsub.subscriberCount('order:1')).toBe(0);
      await pubsub.close();
    });
  });
});
