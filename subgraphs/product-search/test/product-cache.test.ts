import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../platform/logger';
import { TEST_REDIS_URL } from '../../../platform/testing';
import { decodeProduct, encodeProduct } from '../store/cache';
import { memoryProductCache } from '../store/cache-memory';
import { redisProductCache } from '../store/cache-redis';
import type { ProductRecord } from '../store/port';
import { productCacheContract, type OpenProductCache } from './product-cache.contract';

const adapters: [string, OpenProductCache][] = [
  [
    'an in-process LRU',
    async ({ ttlSeconds }) => {
      const cache = memoryProductCache({ ...(ttlSeconds ? { ttlSeconds } : {}) });
      return { cache, release: () => cache.close() };
    },
  ],
];
if (TEST_REDIS_URL) {
  adapters.push([
    'Redis',
    async ({ ttlSeconds }) => {
      // Keys of this run only, under a hash tag of their own.
      const prefix = `{product-cache-test-${randomBytes(6).toString('hex')}}`;
      // These tests are about what the cache keeps, not how fast: production's 100 ms limit per
      // command is shorter than a busy test machine can promise for a 200-key script.
      const cache = redisProductCache({ url: TEST_REDIS_URL!, logger: silentLogger(), prefix, timeoutMs: 5_000, ...(ttlSeconds ? { ttlSeconds } : {}) });
      for (let i = 0; i < 100 && !(await cache.ready()); i++) await new Promise((r) => setTimeout(r, 20));
      return { cache, release: () => cache.close() };
    },
  ]);
} else {
  process.stderr.write('SKIPPED: Redis product cache tests (set TEST_REDIS_URL)\n');
}

describe.each(adapters)('ProductCache on %s', (_name, open) => {
  productCacheContract(open);
});

const record = (id: string): ProductRecord => ({
  id,
  sku: id,
  name: id,
  description: '',
  priceAmount: 100,
  currency: 'USD',
  categoryId: 'c',
  brandId: 'b',
  createdAt: new Date(0),
  updatedAt: new Date(0),
  version: 1,
  archivedAt: null,
});

describe('the in-process LRU', () => {
  it('holds at most its size, dropping the least recently used', async () => {
    const cache = memoryProductCache({ maxEntries: 2 });
    await cache.setMany([record('a'), record('b')]);
    await cache.getMany(['a']);
    await cache.setMany([record('c')]);
    expect([...(await cache.getMany(['a', 'b', 'c'])).keys()]).toEqual(['a', 'c']);
  });
});

describe('cache text', () => {
  it('keeps every field of a product, an archive date included', () => {
    const archived = { ...record('a'), version: 4, archivedAt: new Date('2025-07-01T12:00:00.000Z') };
    expect(decodeProduct(encodeProduct(archived))).toEqual(archived);
    expect(decodeProduct(encodeProduct(record('b')))).toEqual(record('b'));
  });

  it('reads an entry of a product without a version (written before versions) as a miss', () => {
    const { version: _version, archivedAt: _archivedAt, ...older } = record('a');
    expect(decodeProduct(JSON.stringify(older))).toBeNull();
  });
});

describe('the Redis cache with no server', () => {
  it('fails its calls at once instead of queueing them, and says it is not ready', async () => {
    // A port nothing listens on: the lowest unprivileged port, on loopback.
    const cache = redisProductCache({ url: 'redis://127.0.0.1:1', logger: silentLogger(), timeoutMs: 100 });
    try {
      const started = Date.now();
      await expect(cache.getMany(['a'])).rejects.toThrow();
      await expect(cache.setMany([record('a')])).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(500);
      expect(await cache.ready()).toBe(false);
    } finally {
      await cache.close();
    }
  });
});
