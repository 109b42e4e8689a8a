import path from 'node:path';
import { sql } from 'drizzle-orm';
import { openDatabase, type Database } from '../db';
import { EventRetention, eventRetentionWorker, processedMessageRecords, publishedEvents } from '../event-retention';
import { domainEvent, type EventBus, type EventEnvelope } from '../events';
import { eventsPruned } from '../metrics';
import { OutboxRelay } from '../outbox-relay';
import { createTestDatabase, sleep, storeBackends, testDeps, waitFor, type TestDeps } from '../testing';
import * as tables from './relay-schema';

const migrationsFolder = path.join(__dirname, 'relay-migrations');
const HOUR = 3600;
const DAY = 24 * HOUR;

describe.each(storeBackends())('event retention on %s', (backend) => {
  let deps: TestDeps;
  let server: { url: string; drop(): Promise<void> } | undefined;
  let database: Database;

  /** Outbox rows `n`…, created and (unless `published` is null) published that many seconds ago. */
  async function outboxRows(ids: string[], ages: { created: number; published: number | null }): Promise<void> {
    for (const id of ids) {
      const event = domainEvent('OrderConfirmed', `order-${id}`, { orderId: `order-${id}` });
      // name: retention-test-outbox-row
      await database.rows(sql`
        insert into relay_test.outbox (id, type, aggregate_id, occurred_at, payload, created_at, published_at)
        values (${id}, ${event.type}, ${event.aggregateId}, ${event.occurredAt}, ${JSON.stringify(event.payload)}::jsonb,
          now() - make_interval(secs => ${ages.created}),
          ${ages.published === null ? null : sql`now() - make_interval(secs => ${ages.published})`})`);
    }
  }

  async function processedRows(consumer: string, ids: string[], ageSeconds: number): Promise<void> {
    for (const id of ids) {
      // name: retention-test-processed-row
      await database.rows(sql`
        insert into relay_test.processed_messages (consumer, message_id, processed_at)
        values (${consumer}, ${id}, now() - make_interval(secs => ${ageSeconds}))`);
    }
  }

  async function left(): Promise<{ outbox: string[]; processed: string[] }> {
    // name: retention-test-left
    const outbox = await database.rows<{ id: string }>(sql`select id from relay_test.outbox order by id`);
    // name: retention-test-left-processed
    const processed = await database.rows<{ id: string }>(sql`select message_id as id from relay_test.processed_messages order by message_id`);
    return { outbox: outbox.map((r) => r.id), processed: processed.map((r) => r.id) };
  }

  function retention(batchSize?: number): EventRetention {
    return new EventRetention({
      database,
      records: [publishedEvents(tables.outbox, DAY), processedMessageRecords(tables.processedMessages, 7 * DAY)],
      ...(batchSize ? { batchSize } : {}),
    });
  }

  beforeAll(async () => {
    deps = await testDeps('pglite');
    if (backend === 'postgres') server = await createTestDatabase();
    database = await openDatabase({ schema: 'relay_test', migrationsFolder, url: server?.url, embedded: await deps.embedded(), logger: deps.logger });
  });
  afterEach(async () => {
    // name: retention-test-reset
    await database.rows(sql`delete from relay_test.outbox`);
    // name: retention-test-reset-processed
    await database.rows(sql`delete from relay_test.processed_messages`);
  });
  afterAll(async () => {
    await database.close();
    await deps.release();
    await server?.drop();
  });

  it('deletes published events and processed messages past their retention, and nothing else', async () => {
    await outboxRows(['old-published'], { created: 2 * DAY, published: DAY + HOUR });
    await outboxRows(['recent-published'], { created: 2 * DAY, published: DAY - HOUR });
    // Never published, however old: the relay still owes it to the bus.
    await outboxRows(['old-unpublished'], { created: 30 * DAY, published: null });
    await processedRows('payment', ['old-processed'], 7 * DAY + HOUR);
    await processedRows('payment', ['recent-processed'], 7 * DAY - HOUR);

    expect(await retention().prune()).toEqual({ outbox: 1, processed_messages: 1 });
    expect(await left()).toEqual({ outbox: ['old-unpublished', 'recent-published'], processed: ['recent-processed'] });
    expect(await retention().prune()).toEqual({ outbox: 0, processed_messages: 0 });
  });

  it('deletes in batches until none is left past retention', async () => {
    await outboxRows(['a', 'b', 'c', 'd', 'e'], { created: 3 * DAY, published: 2 * DAY });
    await outboxRows(['kept'], { created: HOUR, published: HOUR });
    await processedRows('inventory', ['p1', 'p2', 'p3', 'p4'], 8 * DAY);
    const statementsBefore = database.stats.statements;

    expect(await retention(2).prune()).toEqual({ outbox: 5, processed_messages: 4 });
    // Two rows a statement: 2 + 2 + 1 of the outbox, 2 + 2 + 0 of the processed messages.
    expect(database.stats.statements - statementsBefore).toBe(6);
    expect(await left()).toEqual({ outbox: ['kept'], processed: [] });
  });

  it('finds each batch through the index and deletes it by row id, never scanning the table', async () => {
    // Tables of some size, mostly recent, as after a while of checkouts.
    // name: retention-test-many-events
    await database.rows(sql`
      insert into relay_test.outbox (id, type, aggregate_id, occurred_at, payload, published_at)
      select 'bulk-' || n, 'OrderConfirmed', 'order-' || n, now(), '{}'::jsonb, now() - make_interval(secs => n)
      from generate_series(1, 20000) as n`);
    // name: retention-test-many-processed
    await database.rows(sql`
      insert into relay_test.processed_messages (consumer, message_id, processed_at)
      select 'payment', 'bulk-' || n, now() - make_interval(secs => n * 40) from generate_series(1, 20000) as n`);
    // name: retention-test-analyze
    await database.rows(sql`analyze relay_test.outbox, relay_test.processed_messages`);
    for (const records of [publishedEvents(tables.outbox, 5 * HOUR), processedMessageRecords(tables.processedMessages, 7 * DAY)]) {
      // name: retention-test-explain
      const plan = await database.rows<{ 'QUERY PLAN': string }>(sql`explain (costs off) ${records.prune(1000)}`);
      const text = plan.map((row) => row['QUERY PLAN']).join('\n');
      expect(text).toMatch(/Tid Scan/);
      expect(text).toMatch(/Index Scan (using|on) (outbox_published_at_idx|processed_messages_processed_at_idx)/);
      expect(text).not.toMatch(/Seq Scan/);
    }
  });

  it('leaves an old unpublished event to the relay, which still publishes it', async () => {
    await outboxRows(['stuck'], { created: 10 * DAY, published: null });
    await retention().prune();
    const published: EventEnvelope[] = [];
    const bus = { durable: true, publish: async (events: readonly EventEnvelope[]) => void published.push(...events) } as unknown as EventBus;
    const relay = new OutboxRelay({ database, tables, bus: async () => bus, logger: deps.logger, pollMs: 60_000 });
    expect(await relay.flush()).toBe(1);
    expect(published.map((e) => e.id)).toEqual(['stuck']);
  });

  it('runs as a worker a sweep interval after its start, counting what it deleted', async () => {
    await outboxRows(['w1', 'w2'], { created: 3 * DAY, published: 2 * DAY });
    await processedRows('order', ['m1'], 8 * DAY);
    const counted = async (table: string) =>
      (await eventsPruned.get()).values.find((v) => v.labels.subgraph === 'retention-test' && v.labels.table === table)?.value ?? 0;
    const before = { outbox: await counted('outbox'), processed: await counted('processed_messages') };
    const config = { OUTBOX_RETENTION_SECONDS: DAY, PROCESSED_MESSAGE_RETENTION_SECONDS: 7 * DAY, EVENT_RETENTION_SWEEP_SECONDS: 1 };
    const worker = eventRetentionWorker('retention-test', database, tables, config, deps.logger);
    const started = Date.now();
    worker.start();
    try {
      await sleep(100);
      expect((await left()).outbox).toEqual(['w1', 'w2']);
      await waitFor('the first sweep', async () => (await counted('processed_messages')) - before.processed === 1);
      expect((await counted('outbox')) - before.outbox).toBe(2);
      expect(await left()).toEqual({ outbox: [], processed: [] });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    } finally {
      await worker.stop();
    }
  });

  if (backend === 'postgres') {
    it('lets replicas sweep at once: rows another holds are skipped, not waited for, and deleted once', async () => {
      const ids = Array.from({ length: 40 }, (_, n) => `r${String(n).padStart(2, '0')}`);
      await outboxRows(ids, { created: 3 * DAY, published: 2 * DAY });
      const replica = await openDatabase({ schema: 'relay_test', migrationsFolder, url: server!.url, logger: deps.logger });
      try {
        // The replica holds ten of the rows, as its own sweep would while deleting them.
        const whileHeld = await replica.db.transaction(async (tx) => {
          // name: retention-test-hold
          await tx.execute(sql`select id from relay_test.outbox where id < 'r10' for update`);
          const waited = new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 5000).unref());
          return Promise.race([retention(5).prune(), waited]);
        });
        expect(whileHeld).toEqual({ outbox: 30, processed_messages: 0 });
        expect((await left()).outbox).toEqual(ids.slice(0, 10));

        const other = new EventRetention({ database: replica, records: [publishedEvents(tables.outbox, DAY)], batchSize: 3 });
        const [mine, theirs] = await Promise.all([retention(3).prune(), other.prune()]);
        expect(mine.outbox! + theirs.outbox!).toBe(10);
        expect((await left()).outbox).toEqual([]);
      } finally {
        await replica.close();
      }
    });
  }
});
