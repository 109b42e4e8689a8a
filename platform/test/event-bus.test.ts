import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { openEventBus } from '../event-bus';
import { InProcessEventBus } from '../event-bus/in-process';
import { RedisStreamsEventBus, type RedisStreamsEventBusOptions } from '../event-bus/redis-streams';
import { domainEvent, type EventBus } from '../events';
import { silentLogger } from '../logger';
import { canRunServers, startTestRedis, type TestRedisServer } from '../test-servers';
import { sleep, TEST_REDIS_URL, waitFor } from '../testing';
import { eventBusContract, type EventBusAdapter, type EventBusBroker } from './event-bus.contract';

/** Redelivery period of the Redis buses under test: long enough to be told apart from a first delivery. */
const RECLAIM_IDLE_MS = 150;

const inProcess: EventBusAdapter = {
  name: 'in-process',
  replicas: false,
  quietMs: 100,
  broker: () => {
    let bus: InProcessEventBus | undefined;
    return {
      open: () => (bus ??= new InProcessEventBus(silentLogger(), () => 5)),
      release: async () => bus?.close(),
    };
  },
};

/** Buses under a key prefix of their own, so tests and runs sharing a server never meet. */
function redisBroker(url: string, options: Partial<RedisStreamsEventBusOptions> = {}): EventBusBroker & { prefix: string; admin: Redis } {
  const prefix = `test-${randomBytes(6).toString('hex')}`;
  const buses: EventBus[] = [];
  const admin = new Redis(url);
  return {
    prefix,
    admin,
    open: () => {
      const bus = new RedisStreamsEventBus({
        url,
        logger: silentLogger(),
        prefix,
        reclaimIdleMs: RECLAIM_IDLE_MS,
        blockMs: 1_000,
        closeGraceMs: 300,
        ...options,
      });
      buses.push(bus);
      return bus;
    },
    release: async () => {
      await Promise.all(buses.map((bus) => bus.close()));
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await admin.del(...keys);
      } while (cursor !== '0');
      await admin.quit();
    },
  };
}

function adapters(): EventBusAdapter[] {
  if (!TEST_REDIS_URL) {
    process.stderr.write('SKIPPED: Redis tests (set TEST_REDIS_URL)\n');
    return [inProcess];
  }
  const url = TEST_REDIS_URL;
  return [inProcess, { name: 'redis-streams', replicas: true, quietMs: 4 * RECLAIM_IDLE_MS, broker: () => redisBroker(url) }];
}

describe.each(adapters())('EventBus on $name', (adapter) => {
  eventBusContract(adapter);
});

describe('InProcessEventBus', () => {
  it('delivers what was already published before a closing subscription stops', async () => {
    const bus = new InProcessEventBus(silentLogger(), () => 1);
    const handled: string[] = [];
    const subscription = bus.subscribe('payment', ['OrderCancelled'], async (e) => {
      await sleep(5);
      handled.push(e.id);
    });
    const queued = Array.from({ length: 5 }, (_, n) => domainEvent('OrderCancelled', `order-${n}`, { orderId: `order-${n}` }));
    await bus.publish(queued);

    // The relay marked these published when `publish` returned: dropping them would lose them.
    await subscription.close();
    expect(handled).toEqual(queued.map((e) => e.id));
    await bus.close();
  });

  it('runs handlers after publish returns, not inside it', async () => {
    const bus = new InProcessEventBus(silentLogger());
    let handled = 0;
    bus.subscribe('order', ['OrderShipped'], async () => void (handled += 1));
    await bus.publish([domainEvent('OrderShipped', 'order-1', { orderId: 'order-1' })]);
    expect(handled).toBe(0);
    await waitFor('the handler', () => handled === 1);
    await bus.close();
  });
});

describe('openEventBus', () => {
  it('opens the in-process bus without REDIS_URL and Redis Streams with it', async () => {
    const embedded = openEventBus({ REDIS_URL: undefined, EVENT_STREAM_PREFIX: 'test', EVENT_RECLAIM_IDLE_MS: 1000 }, silentLogger());
    expect(embedded).toBeInstanceOf(InProcessEventBus);
    await embedded.close();
    const redis = openEventBus({ REDIS_URL: 'redis://127.0.0.1:1', EVENT_STREAM_PREFIX: 'test', EVENT_RECLAIM_IDLE_MS: 1000 }, silentLogger());
    expect(redis).toBeInstanceOf(RedisStreamsEventBus);
    await redis.close();
  });
});

describe('RedisStreamsEventBus', () => {
  it('is not ready while its server cannot be reached', async () => {
    const bus = new RedisStreamsEventBus({ url: 'redis://127.0.0.1:1', logger: silentLogger() });
    expect(await bus.ready()).toBe(false);
    await bus.close();
  });

  const withRedis = TEST_REDIS_URL ? describe : describe.skip;
  withRedis('on a server', () => {
    const url = TEST_REDIS_URL!;
    let broker: ReturnType<typeof redisBroker>;
    afterEach(() => broker.release());

    it('writes each event type to its own capped stream, as a JSON envelope', async () => {
      broker = redisBroker(url, { maxLen: 10 });
      const bus = broker.open();
      const events = Array.from({ length: 1000 }, (_, n) => domainEvent('OrderShipped', `order-${n}`, { orderId: `order-${n}` }));
      await bus.publish(events);
      await bus.publish([domainEvent('OrderCancelled', 'order-x', { orderId: 'order-x' })]);

      const shipped = `${broker.prefix}:events:OrderShipped`;
      const length = await broker.admin.xlen(shipped);
      // MAXLEN ~ trims whole stream nodes, so a little over the cap remains.
      expect(length).toBeGreaterThanOrEqual(10);
      expect(length).toBeLessThan(1000);
      const [[, fields]] = (await broker.admin.xrevrange(shipped, '+', '-', 'COUNT', 1)) as [string, string[]][] as [[string, string[]]];
      expect(fields[0]).toBe('event');
      expect(JSON.parse(fields[1]!)).toEqual(events[999]);
      expect(await broker.admin.xlen(`${broker.prefix}:events:OrderCancelled`)).toBe(1);
    });

    it('dead-letters a malformed message at once, without calling the handler, and goes on', async () => {
      broker = redisBroker(url);
      const bus = broker.open();
      const handled: string[] = [];
      bus.subscribe('order', ['OrderPlaced'], async (e) => void handled.push(e.id));
      await broker.admin.xadd(`${broker.prefix}:events:OrderPlaced`, '*', 'event', '{not json');
      const good = domainEvent('OrderPlaced', 'order-1', { orderId: 'order-1', customerId: 'c', lines: [], total: { amount: 0, currency: 'USD' }, paymentToken: 't' });
      await bus.publish([good]);

      await waitFor('the good event and the dead letter', async () => handled.length === 1 && (await bus.deadLetters()).length === 1);
      const [dead] = await bus.deadLetters();
      expect(dead).toMatchObject({ group: 'order', deliveries: 1, lastError: expect.stringMatching(/malformed/) });
      expect(dead!.event.type).toBe('OrderPlaced');
      expect(dead!.event.payload).toEqual({ raw: '{not json' });
      expect(handled).toEqual([good.id]);
    });

    it('dead-letters, with an unknown error, an event whose consumer died on its last delivery', async () => {
      broker = redisBroker(url);
      const reserved = domainEvent('StockReserved', 'order-1', { orderId: 'order-1', expiresAt: new Date().toISOString() });
      const crashing = broker.open();
      let taken = 0;
      crashing.subscribe('payment', ['StockReserved'], () => {
        taken += 1;
        return new Promise(() => {});
      }, { maxDeliveries: 1 });
      await crashing.publish([reserved]);
      await waitFor('the first consumer to take the event', () => taken === 1);
      await crashing.close();

      const survivor = broker.open();
      const handled: string[] = [];
      survivor.subscribe('payment', ['StockReserved'], async (e) => void handled.push(e.id), { maxDeliveries: 1 });
      await waitFor('the dead letter', async () => (await survivor.deadLetters()).length === 1);
      expect((await survivor.deadLetters())[0]).toEqual({ event: reserved, group: 'payment', deliveries: 1, lastError: 'unknown', deadAt: expect.any(String) });
      await sleep(4 * RECLAIM_IDLE_MS);
      expect(handled).toEqual([]);
    });

    it('lets a handler slower than the idle limit finish: no second delivery, no dead letter', async () => {
      broker = redisBroker(url);
      const replicas = [broker.open(), broker.open()];
      const started: string[] = [];
      const finished: string[] = [];
      for (const bus of replicas) {
        bus.subscribe('payment', ['PaymentAuthorized'], async (e) => {
          started.push(e.id);
          await sleep(6 * RECLAIM_IDLE_MS);
          finished.push(e.id);
        }, { maxDeliveries: 1 });
      }
      const authorized = domainEvent('PaymentAuthorized', 'order-1', { orderId: 'order-1', paymentId: 'p-1', amount: { amount: 100, currency: 'USD' } });
      await replicas[0]!.publish([authorized]);

      await waitFor('the handler to finish', () => finished.length === 1);
      await sleep(4 * RECLAIM_IDLE_MS);
      expect(started).toEqual([authorized.id]);
      expect(await replicas[0]!.deadLetters()).toEqual([]);
    });

    it("handles different orders' events side by side, and one order's in publish order across streams", async () => {
      broker = redisBroker(url);
      const bus = broker.open();
      const placed = (orderId: string) =>
        domainEvent('OrderPlaced', orderId, { orderId, customerId: 'c', lines: [], total: { amount: 0, currency: 'USD' }, paymentToken: 't' });
      const first = placed('order-1');
      const second = placed('order-2');
      const reserved = domainEvent('StockReserved', 'order-1', { orderId: 'order-1', expiresAt: new Date().toISOString() });
      // Published before anyone subscribes, a millisecond apart, so one read returns all three in publish order.
      await bus.publish([first, second]);
      await sleep(5);
      await bus.publish([reserved]);

      const log: string[] = [];
      bus.subscribe('payment', ['OrderPlaced', 'StockReserved'], async (e) => {
        log.push(`start ${e.type} ${e.aggregateId}`);
        if (e.id === first.id) await sleep(300);
        log.push(`end ${e.type} ${e.aggregateId}`);
      });
      await waitFor('all three events', () => log.length === 6);
      // order-2 does not wait behind order-1's slow handler; order-1's StockReserved waits for its OrderPlaced.
      expect(log.indexOf('end OrderPlaced order-2')).toBeLessThan(log.indexOf('end OrderPlaced order-1'));
      expect(log.indexOf('start StockReserved order-1')).toBeGreaterThan(log.indexOf('end OrderPlaced order-1'));
    });

    it("reads on while a handler runs: a later order's event does not wait for it, a later event of its order does", async () => {
      broker = redisBroker(url);
      const bus = broker.open();
      const log: string[] = [];
      let release!: () => void;
      const slow = new Promise<void>((resolve) => (release = resolve));
      const placed = (orderId: string) =>
        domainEvent('OrderPlaced', orderId, { orderId, customerId: 'c', lines: [], total: { amount: 0, currency: 'USD' }, paymentToken: 't' });
      const first = placed('order-1');
      bus.subscribe('payment', ['OrderPlaced', 'StockReserved'], async (e) => {
        log.push(`start ${e.type} ${e.aggregateId}`);
        if (e.id === first.id) await slow;
        log.push(`end ${e.type} ${e.aggregateId}`);
      });
      await bus.publish([first]);
      await waitFor('the slow handler to start', () => log.length === 1);
      // Read while order-1's handler still runs.
      await bus.publish([placed('order-2'), domainEvent('StockReserved', 'order-1', { orderId: 'order-1', expiresAt: new Date().toISOString() })]);
      await waitFor("order-2's event", () => log.includes('end OrderPlaced order-2'));
      await sleep(100);
      expect(log).not.toContain('start StockReserved order-1');
      release();
      await waitFor("order-1's events", () => log.includes('end StockReserved order-1'));
      expect(log.indexOf('start StockReserved order-1')).toBeGreaterThan(log.indexOf('end OrderPlaced order-1'));
    });

    it('reads no more while maxRunning events are being handled', async () => {
      broker = redisBroker(url, { maxRunning: 3 });
      const bus = broker.open();
      const started: string[] = [];
      const releases: (() => void)[] = [];
      bus.subscribe('inventory', ['OrderCancelled'], async (e) => {
        started.push(e.id);
        await new Promise<void>((resolve) => releases.push(resolve));
      });
      const events = Array.from({ length: 7 }, (_, n) => domainEvent('OrderCancelled', `order-${n}`, { orderId: `order-${n}` }));
      await bus.publish(events);
      await waitFor('the first handlers', () => started.length === 3);
      await sleep(200);
      expect(started).toHaveLength(3);
      const stream = `${broker.prefix}:events:OrderCancelled`;
      // The rest are not delivered to this consumer yet, so another replica could take them.
      expect(((await broker.admin.xpending(stream, 'inventory')) as [number])[0]).toBe(3);
      releases.shift()!();
      await waitFor('one more', () => started.length === 4);
      while (started.length < events.length || releases.length) {
        releases.shift()?.();
        await sleep(10);
      }
      expect(started).toEqual(events.map((e) => e.id));
      await waitFor('every event acknowledged', async () => ((await broker.admin.xpending(stream, 'inventory')) as [number])[0] === 0);
    });

    it('keeps commands flowing while a subscription blocks, and closes without waiting out the block', async () => {
      broker = redisBroker(url, { blockMs: 60_000 });
      const bus = broker.open();
      const handled: string[] = [];
      bus.subscribe('inventory', ['OrderCancelled'], async (e) => void handled.push(e.id));
      await sleep(200);
      const began = Date.now();
      const cancelled = domainEvent('OrderCancelled', 'order-1', { orderId: 'order-1' });
      await bus.publish([cancelled]);
      expect(await bus.deadLetters()).toEqual([]);
      expect(await bus.ready()).toBe(true);
      await waitFor('the event', () => handled.length === 1);
      expect(Date.now() - began).toBeLessThan(1_000);

      const closing = Date.now();
      await bus.close();
      expect(Date.now() - closing).toBeLessThan(1_000);
    });

    it('leaves no consumer behind in its group after a clean close', async () => {
      broker = redisBroker(url);
      const bus = broker.open() as RedisStreamsEventBus;
      expect(bus.consumerName).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{8}$`));
      const handled: string[] = [];
      const subscription = bus.subscribe('order', ['OrderConfirmed'], async (e) => void handled.push(e.id));
      await bus.publish([domainEvent('OrderConfirmed', 'order-1', { orderId: 'order-1' })]);
      await waitFor('the event', () => handled.length === 1);
      const stream = `${broker.prefix}:events:OrderConfirmed`;
      expect((await broker.admin.xinfo('CONSUMERS', stream, 'order')) as unknown[]).toHaveLength(1);

      await subscription.close();
      expect((await broker.admin.xinfo('CONSUMERS', stream, 'order')) as unknown[]).toEqual([]);
    });
  });

  // A server of the test's own: its command counts are this test's alone.
  const withRedisServer = canRunServers().redis ? describe : describe.skip;
  withRedisServer('on a server of its own', () => {
    let server: TestRedisServer;
    let broker: ReturnType<typeof redisBroker>;
    beforeAll(async () => {
      server = await startTestRedis();
    });
    afterAll(() => server.destroy());
    afterEach(() => broker.release());

    it('acknowledges the events handled while a read waits in one command', async () => {
      broker = redisBroker(server.url);
      const bus = broker.open();
      const events = Array.from({ length: 12 }, (_, n) => domainEvent('OrderConfirmed', `order-${n}`, { orderId: `order-${n}` }));
      // Published before anyone subscribes: one read returns them all.
      await bus.publish(events);
      await broker.admin.config('RESETSTAT');
      const handled: string[] = [];
      bus.subscribe('order', ['OrderConfirmed'], async (e) => void handled.push(e.id));
      await waitFor('the events', () => handled.length === events.length);
      const stream = `${broker.prefix}:events:OrderConfirmed`;
      await waitFor('every event acknowledged', async () => ((await broker.admin.xpending(stream, 'order')) as [number])[0] === 0);
      const xack = /cmdstat_xack:calls=(\d+)/.exec(await broker.admin.info('commandstats'))?.[1];
      expect(Number(xack)).toBe(1);
      expect(await bus.deadLetters()).toEqual([]);
    });
  });
});
