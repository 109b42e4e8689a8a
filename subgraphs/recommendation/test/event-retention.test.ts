import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import Redis from 'ioredis';
import type { Database } from '../../../platform/db';
import { silentLogger } from '../../../platform/logger';
import { openSubgraphDatabase } from '../../../platform/subgraph';
import { storeBackends, testDeps, TEST_REDIS_URL, waitFor, type TestDeps } from '../../../platform/testing';
import type { RecommendationStore } from '../store/port';
import { RECOMMENDATION_MIGRATIONS, RECOMMENDATION_SCHEMA, postgresRecommendationStore } from '../store/postgres';
import { redisRecommendationStore } from '../store/redis';

const DAY = 24 * 3600;
const CONSUMER = 'recommendation';
const placed = (orderId: string, productIds: string[]) => ({ kind: 'placed' as const, orderId, customerId: 'customer-1', productIds });
const confirmed = (orderId: string) => ({ kind: 'confirmed' as const, orderId });

describe.each(storeBackends())('recommendation forgets its event records past their retention on %s', (backend) => {
  let deps: TestDeps;
  let database: Database;
  let store: RecommendationStore;

  beforeAll(async () => {
    deps = await testDeps(backend, ['recommendation']);
    database = await openSubgraphDatabase(deps, 'recommendation', { schema: RECOMMENDATION_SCHEMA, migrationsFolder: RECOMMENDATION_MIGRATIONS });
    store = postgresRecommendationStore(database);
  });
  afterAll(async () => {
    await store.close();
    await deps.release();
  });

  /** Makes what was written so far look `seconds` old. */
  async function age(seconds: number): Promise<void> {
    // name: retention-test-age-processed
    await database.rows(sql`update recommendation.processed_messages set processed_at = processed_at - make_interval(secs => ${seconds})`);
    // name: retention-test-age-notes
    await database.rows(sql`update recommendation.order_events set noted_at = noted_at - make_interval(secs => ${seconds})`);
  }

  it('deletes processed messages and order notes a retention after their last change, and keeps what was learnt', async () => {
    // An order recorded long ago; one placed long ago and confirmed now; one never confirmed.
    expect(await store.noteOrderEvent(CONSUMER, 'm-old-placed', placed('order-old', ['p1', 'p2']))).toBe('noted');
    expect(await store.noteOrderEvent(CONSUMER, 'm-old-confirmed', confirmed('order-old'))).toBe('recorded');
    expect(await store.noteOrderEvent(CONSUMER, 'm-late-placed', placed('order-late', ['p3', 'p4']))).toBe('noted');
    expect(await store.noteOrderEvent(CONSUMER, 'm-abandoned', placed('order-abandoned', ['p5', 'p6']))).toBe('noted');
    await age(8 * DAY);
    expect(await store.noteOrderEvent(CONSUMER, 'm-late-confirmed', confirmed('order-late'))).toBe('recorded');

    const config = { OUTBOX_RETENTION_SECONDS: DAY, PROCESSED_MESSAGE_RETENTION_SECONDS: 7 * DAY, EVENT_RETENTION_SWEEP_SECONDS: 1 };
    const worker = store.eventRetention!(config, silentLogger());
    worker.start();
    try {
      // name: retention-test-notes-left
      const notes = () => database.rows<{ order_id: string }>(sql`select order_id from recommendation.order_events order by order_id`);
      await waitFor('the first sweep', async () => (await notes()).length === 1);
      expect((await notes()).map((row) => row.order_id)).toEqual(['order-late']);
      // name: retention-test-processed-left
      const processed = await database.rows<{ message_id: string }>(sql`select message_id from recommendation.processed_messages`);
      expect(processed.map((row) => row.message_id)).toEqual(['m-late-confirmed']);
    } finally {
      await worker.stop();
    }
    // The purchases stay learnt; the late order's note still keeps its confirmation from counting twice.
    expect((await store.boughtTogether(['p1', 'p3'], 5)).get('p1')).toEqual(['p2']);
    expect(await store.noteOrderEvent(CONSUMER, 'm-late-confirmed-again', confirmed('order-late'))).toBe('noted');
    expect((await store.boughtTogether(['p3'], 5)).get('p3')).toEqual(['p4']);
  });
});

const describeRedis = TEST_REDIS_URL ? describe : describe.skip;
if (!TEST_REDIS_URL) process.stderr.write('SKIPPED: recommendation event retention on Redis (set TEST_REDIS_URL)\n');

describeRedis('recommendation forgets its event records past their retention on Redis', () => {
  const prefix = `{recommendation-test-${randomBytes(6).toString('hex')}}`;
  let store: RecommendationStore;
  let redis: Redis;

  beforeAll(() => {
    store = redisRecommendationStore({ url: TEST_REDIS_URL!, logger: silentLogger(), prefix, retentionSeconds: 120 });
    redis = new Redis(TEST_REDIS_URL!);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await store.close();
  });

  it('lets Redis expire each processed message and order note a retention after its last change', async () => {
    expect(await store.noteOrderEvent(CONSUMER, 'm-placed', placed('order-1', ['p1', 'p2']))).toBe('noted');
    await redis.expire(`${prefix}:order:order-1`, 30);
    expect(await store.noteOrderEvent(CONSUMER, 'm-confirmed', confirmed('order-1'))).toBe('recorded');

    for (const key of [`${prefix}:processed:${CONSUMER}:m-placed`, `${prefix}:processed:${CONSUMER}:m-confirmed`, `${prefix}:order:order-1`]) {
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
    }
    // No set of every message ever processed is kept.
    expect(await redis.exists(`${prefix}:processed:${CONSUMER}`)).toBe(0);
    expect(await store.noteOrderEvent(CONSUMER, 'm-confirmed', confirmed('order-1'))).toBe('duplicate');
  });

  it('still honours the marks that earlier versions kept in one set', async () => {
    await redis.sadd(`${prefix}:processed:${CONSUMER}`, 'm-from-before');
    expect(await store.noteOrderEvent(CONSUMER, 'm-from-before', placed('order-2', ['p3', 'p4']))).toBe('duplicate');
    expect(await redis.exists(`${prefix}:order:order-2`)).toBe(0);
  });
});
