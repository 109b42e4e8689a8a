import { sleep } from '../../../platform/testing';
import { productVersion, type ProductCache } from '../store/cache';
import type { ProductRecord } from '../store/port';

export type OpenProductCache = (options: { ttlSeconds?: number }) => Promise<{ cache: ProductCache; release(): Promise<void> }>;

let counter = 0;

/** A product of its own for each test (ids never repeat across a run), at `updatedAt`. */
function product(overrides: Partial<ProductRecord> = {}): ProductRecord {
  counter += 1;
  return {
    id: `cache-test-${process.pid}-${Date.now()}-${counter}`,
    sku: `SKU-${counter}`,
    name: 'Rustic Oak Table',
    description: 'A flat top on four legs.',
    priceAmount: 24_900,
    currency: 'USD',
    categoryId: 'cat-tables',
    brandId: 'brand-oakline',
    createdAt: new Date('2025-03-01T10:00:00.000Z'),
    updatedAt: new Date('2025-06-01T10:00:00.000Z'),
    version: 1,
    archivedAt: null,
    ...overrides,
  };
}

const later = (p: ProductRecord, ms: number, changes: Partial<ProductRecord> = {}): ProductRecord => ({
  ...p,
  ...changes,
  updatedAt: new Date(p.updatedAt.getTime() + ms),
});

/** What every ProductCache adapter must do. */
export function productCacheContract(open: OpenProductCache) {
  let cache: ProductCache;
  let release: () => Promise<void>;

  beforeAll(async () => {
    ({ cache, release } = await open({}));
  });
  afterAll(() => release());

  it('answers ready', async () => {
    expect(await cache.ready()).toBe(true);
  });

  it('misses products it never held', async () => {
    expect(await cache.getMany([product().id, product().id])).toEqual(new Map());
    expect(await cache.getMany([])).toEqual(new Map());
  });

  it('returns what was set, dates and all, for the ids it holds', async () => {
    const [a, b, c] = [product(), product({ description: '', version: 3, archivedAt: new Date('2025-07-01T12:00:00.000Z') }), product()];
    await cache.setMany([a, b]);
    const found = await cache.getMany([a.id, c.id, b.id]);
    expect(found).toEqual(new Map([[a.id, a], [b.id, b]]));
    expect(found.get(a.id)!.createdAt).toBeInstanceOf(Date);
    expect(found.get(b.id)!.archivedAt).toBeInstanceOf(Date);
  });

  it('keeps the newer version when an older one is set after it', async () => {
    const old = product();
    const newer = later(old, 1000, { name: 'Renamed Table' });
    await cache.setMany([newer]);
    await cache.setMany([old]);
    expect((await cache.getMany([old.id])).get(old.id)).toEqual(newer);
  });

  it('replaces an entry by a newer version', async () => {
    const old = product();
    const newer = later(old, 1, { priceAmount: 1 });
    await cache.setMany([old]);
    await cache.setMany([newer]);
    expect((await cache.getMany([old.id])).get(old.id)).toEqual(newer);
  });

  it('misses an invalidated product, and refuses versions older than the invalidation', async () => {
    const old = product();
    await cache.setMany([old]);
    const written = later(old, 5, { name: 'Written Table' });
    await cache.invalidate([{ id: old.id, version: productVersion(written) }]);
    expect(await cache.getMany([old.id])).toEqual(new Map());
    // A reader that loaded the product before the write comes back late with it.
    await cache.setMany([old]);
    expect(await cache.getMany([old.id])).toEqual(new Map());
    // A reader that loaded it after the write caches it.
    await cache.setMany([written]);
    expect((await cache.getMany([old.id])).get(old.id)).toEqual(written);
  });

  it('invalidates products it does not hold, so a stale load that arrives later is refused', async () => {
    const old = product();
    await cache.invalidate([{ id: old.id, version: productVersion(old) + 1 }]);
    await cache.setMany([old]);
    expect(await cache.getMany([old.id])).toEqual(new Map());
  });

  it('keeps and drops many products in one call', async () => {
    const many = Array.from({ length: 200 }, () => product());
    await cache.setMany(many);
    expect((await cache.getMany(many.map((p) => p.id))).size).toBe(200);
    await cache.invalidate(many.slice(0, 150).map((p) => ({ id: p.id, version: productVersion(p) })));
    expect([...(await cache.getMany(many.map((p) => p.id))).keys()]).toEqual(many.slice(150).map((p) => p.id));
  });

  it('forgets entries after their time to live', async () => {
    const short = await open({ ttlSeconds: 1 });
    try {
      const p = product();
      await short.cache.setMany([p]);
      expect((await short.cache.getMany([p.id])).size).toBe(1);
      await sleep(1100);
      expect(await short.cache.getMany([p.id])).toEqual(new Map());
    } finally {
      await short.release();
    }
  });
}
