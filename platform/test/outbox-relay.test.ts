import path from 'node:path';
import { isNull, sql } from 'drizzle-orm';
import { openDatabase, type Database } from '../db';
import { InProcessEventBus } from '../event-bus/in-process';
import { domainEvent, type DeadLetter, type EventBus, type EventEnvelope } from '../events';
import { enqueueEvents } from '../outbox';
import { OutboxRelay } from '../outbox-relay';
import { createTestDatabase, sleep, storeBackends, testDeps, waitFor, type TestDeps } from '../testing';
import * as tables from './relay-schema';

/** A bus that records what reaches it and fails on demand. */
class RecordingBus implements EventBus {
  readonly published: EventEnvelope[] = [];
  /** A durable bus keeps what it accepted across a crash; the in-process one does not. */
  constructor(readonly durable = true) {}
  /** Calls of `publish` that throw before reaching the bus. */
  failBefore = 0;
  /** Calls of `publish` that reach the bus and then throw (a lost acknowledgement). */
  failAfter = 0;
  /** Time each `publish` takes, in ms. */
  delayMs = 0;
  calls = 0;

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    this.calls += 1;
    if (this.failBefore > 0) {
      this.failBefore -= 1;
      throw new Error('bus unavailable');
    }
    if (this.delayMs) await sleep(this.delayMs);
    this.published.push(...events);
    if (this.failAfter > 0) {
      this.failAfter -= 1;
      throw new Error('acknowledgement lost');
    }
  }
  subscribe(): never {
    throw new Error('not used');
  }
  async deadLetters(): Promise<DeadLetter[]> {
    return [];
  }
  async ready(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {}
}

const migrationsFolder = path.join(__dirname, 'relay-migrations');

function placed(n: number, at: Date): EventEnvelope {
  return { ...domainEvent('OrderConfirmed', `order-${n}`, { orderId: `order-${n}` }), occurredAt: at.toISOString() };
}

/** `count` events, each a millisecond after the previous. */
function events(count: number): EventEnvelope[] {
  const start = Date.now();
  return Array.from({ length: count }, (_, n) => placed(n, new Date(start + n)));
}

describe.each(storeBackends())('OutboxRelay on %s', (backend) => {
  let deps: TestDeps;
  let server: { url: string; drop(): Promise<void> } | undefined;
  let database: Database;
  const relays: OutboxRelay[] = [];

  async function open(): Promise<Database> {
    return openDatabase({ schema: 'relay_test', migrationsFolder, url: server?.url, embedded: await deps.embedded(), logger: deps.logger });
  }

  function relay(bus: EventBus, options: { database?: Database; pollMs?: number; batchSize?: number } = {}): OutboxRelay {
    const created = new OutboxRelay({
      database: options.database ?? database,
      tables,
      bus: async () => bus,
      logger: deps.logger,
      pollMs: options.pollMs ?? 60_000,
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    });
    relays.push(created);
    return created;
  }

  /** Commits `list` to the outbox in one transaction, as a domain change would. */
  async function commit(list: EventEnvelope[]): Promise<void> {
    await database.db.transaction((tx) => enqueueEvents(tx, tables, list));
  }

  async function unpublished(): Promise<number> {
    return (await database.db.select().from(tables.outbox).where(isNull(tables.outbox.publishedAt))).length;
  }

  beforeAll(async () => {
    deps = await testDeps('pglite');
    if (backend === 'postgres') server = await createTestDatabase();
    database = await open();
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    // name: relay-test-reset
    await database.rows(sql`delete from relay_test.outbox`);
  });
  afterAll(async () => {
    await database.close();
    await deps.release();
    await server?.drop();
  });

  it('publishes committed events once, as they were written, and marks them published', async () => {
    const bus = new RecordingBus();
    const [first, second] = events(2) as [EventEnvelope, EventEnvelope];
    const traced = { ...second, requestId: 'req-42' };
    await commit([first, traced]);

    expect(await relay(bus).flush()).toBe(2);
    expect(bus.published).toEqual([first, traced]);
    expect(bus.published[0]).not.toHaveProperty('requestId');
    expect(await unpublished()).toBe(0);
    expect(await relay(bus).flush()).toBe(0);
    expect(bus.published).toHaveLength(2);
  });

  it('publishes events of one transaction in the order written, even at the same instant', async () => {
    const bus = new RecordingBus();
    const at = new Date().toISOString();
    // Ids that sort the other way round, all at one millisecond.
    const list = ['e-5', 'e-4', 'e-3', 'e-2', 'e-1'].map((id, n) => ({ ...placed(n, new Date(at)), id }));
    await commit(list);

    expect(await relay(bus).flush()).toBe(5);
    expect(bus.published.map((e) => e.id)).toEqual(['e-5', 'e-4', 'e-3', 'e-2', 'e-1']);
  });

  if (backend === 'postgres') {
    it('publishes a transaction that waited on another after it, though it started first', async () => {
      const bus = new RecordingBus();
      const [early, late] = events(2) as [EventEnvelope, EventEnvelope];
      let began!: () => void;
      const started = new Promise<void>((resolve) => (began = resolve));
      let release!: () => void;
      const proceed = new Promise<void>((resolve) => (release = resolve));
      // Starts first (its now() is earlier), then writes only after the other has committed.
      const waiting = database.db.transaction(async (tx) => {
        await tx.execute(sql`select 1`);
        began();
        await proceed;
        await enqueueEvents(tx, tables, [late]);
      });
      await started;
      await commit([early]);
      release();
      await waiting;

      expect(await relay(bus).flush()).toBe(2);
      expect(bus.published.map((e) => e.id)).toEqual([early.id, late.id]);
    });
  }

  it('publishes nothing of a transaction that rolled back', async () => {
    const bus = new RecordingBus();
    await expect(
      database.db.transaction(async (tx) => {
        await enqueueEvents(tx, tables, events(1));
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');

    expect(await relay(bus).flush()).toBe(0);
    expect(bus.published).toEqual([]);
  });

  it('keeps events unpublished while the bus fails, and publishes them on the next flush', async () => {
    const bus = new RecordingBus();
    const list = events(3);
    await commit(list);
    const worker = relay(bus);
    bus.failBefore = 1;

    await expect(worker.flush()).rejects.toThrow('bus unavailable');
    expect(await unpublished()).toBe(3);
    expect(bus.published).toEqual([]);
    expect(await worker.flush()).toBe(3);
    expect(bus.published).toEqual(list);
    expect(await unpublished()).toBe(0);
  });

  it('sends again events whose publication was not confirmed: at least once', async () => {
    const bus = new RecordingBus();
    const [event] = events(1) as [EventEnvelope];
    await commit([event]);
    const worker = relay(bus);
    bus.failAfter = 1;

    await expect(worker.flush()).rejects.toThrow('acknowledgement lost');
    expect(await worker.flush()).toBe(1);
    expect(bus.published).toEqual([event, event]);
  });

  it('publishes in batches until the outbox is empty', async () => {
    const bus = new RecordingBus();
    const list = events(25);
    await commit(list);

    const before = database.stats.statements;
    expect(await relay(bus, { batchSize: 10 }).flush()).toBe(25);
    expect(bus.calls).toBe(3);
    expect(bus.published).toEqual(list);
    // One statement claims and marks each batch (10, 10, then 5, which ends the flush).
    expect(database.stats.statements - before).toBe(3);
  });

  it('publishes recent events again on start when the bus does not survive a crash', async () => {
    const [delivered] = events(1) as [EventEnvelope];
    await commit([delivered]);
    expect(await relay(new RecordingBus()).flush()).toBe(1);

    // The process died after the relay marked the event published, before any consumer ran.
    const durable = new RecordingBus(true);
    await relay(durable).start();
    await sleep(100);
    expect(durable.published).toEqual([]);

    const inMemory = new RecordingBus(false);
    await relay(inMemory).start();
    // The bus hears it inside the relay's transaction; the row is marked once that commits.
    await waitFor('the event again, marked published', async () => inMemory.published.length === 1 && (await unpublished()) === 0, 2_000);
    expect(inMemory.published).toEqual([delivered]);
  });

  it('once started, publishes on notify and by polling; after stop, neither', async () => {
    const bus = new RecordingBus();
    const notified = relay(bus, { pollMs: 60_000 });
    notified.start();
    await sleep(50);
    const [a, b, c] = events(3) as [EventEnvelope, EventEnvelope, EventEnvelope];
    await commit([a]);
    notified.notify();
    await waitFor('the notified event', () => bus.published.length === 1, 2_000);
    await notified.stop();

    const polling = relay(bus, { pollMs: 30 });
    polling.start();
    await commit([b]);
    await waitFor('the polled event', () => bus.published.length === 2, 2_000);
    await polling.stop();

    await commit([c]);
    polling.notify();
    notified.notify();
    await sleep(150);
    expect(bus.published).toEqual([a, b]);
    expect(await unpublished()).toBe(1);
  });

  it('finishes the batch in flight before stop resolves, and starts no other', async () => {
    const bus = new RecordingBus();
    bus.delayMs = 150;
    const [first, second] = events(2) as [EventEnvelope, EventEnvelope];
    await commit([first, second]);
    const worker = relay(bus, { batchSize: 1 });
    worker.start();
    await waitFor('publishing to begin', () => bus.calls === 1, 2_000);

    await worker.stop();
    expect(bus.published).toEqual([first]);
    expect(await unpublished()).toBe(1);
    await sleep(300);
    expect(bus.calls).toBe(1);
  });

  it('feeds a real bus: subscribers receive what the relay publishes', async () => {
    const bus = new InProcessEventBus(deps.logger, () => 1);
    const received: string[] = [];
    bus.subscribe('order', ['OrderConfirmed'], async (e) => void received.push(e.id));
    const list = events(3);
    await commit(list);

    await relay(bus).flush();
    await waitFor('the subscriber', () => received.length === 3, 2_000);
    expect(received).toEqual(list.map((e) => e.id));
    await bus.close();
  });

  if (backend === 'postgres') {
    it('two relays flushing at once publish each event exactly once', async () => {
      const bus = new RecordingBus();
      bus.delayMs = 10;
      const list = events(200);
      await commit(list);
      const otherReplica = await open();
      try {
        const [one, two] = await Promise.all([
          relay(bus, { batchSize: 10 }).flush(),
          relay(bus, { batchSize: 10, database: otherReplica }).flush(),
        ]);

        expect(one + two).toBe(200);
        expect(one).toBeGreaterThan(0);
        expect(two).toBeGreaterThan(0);
        expect(bus.published.map((e) => e.id).sort()).toEqual(list.map((e) => e.id).sort());
        expect(await unpublished()).toBe(0);
      } finally {
        await otherReplica.close();
      }
    });
  }
});
