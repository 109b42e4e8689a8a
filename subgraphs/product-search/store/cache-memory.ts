import { LRUCache } from 'lru-cache';
import type { ProductRecord } from './port';
import { DEFAULT_PRODUCT_CACHE_TTL_SECONDS, productVersion, type ProductCache, type ProductCacheOptions } from './cache';

export interface MemoryProductCacheOptions extends ProductCacheOptions {
  /** Entries kept at most (tombstones included); the least recently used go first; default 10,000. */
  maxEntries?: number;
}

export const DEFAULT_PRODUCT_CACHE_MAX_ENTRIES = 10_000;

/** An entry: the product, or null for a tombstone, and the version either is of. */
interface Entry {
  version: number;
  product: ProductRecord | null;
}

/**
 * The embedded product cache: a bounded LRU in this process. Cached records are shared by
 * every request that reads them, as read-only values.
 */
export function memoryProductCache(options: MemoryProductCacheOptions = {}): ProductCache {
  const entries = new LRUCache<string, Entry>({
    max: options.maxEntries ?? DEFAULT_PRODUCT_CACHE_MAX_ENTRIES,
    ttl: (options.ttlSeconds ?? DEFAULT_PRODUCT_CACHE_TTL_SECONDS) * 1000,
  });
  let closed = false;
  /** Keeps `entry` unless the cache holds a newer version of that id. */
  const put = (id: string, entry: Entry) => {
    const current = entries.get(id, { updateAgeOnGet: false });
    if (current && current.version > entry.version) return;
    entries.set(id, entry);
  };
  return {
    scope: 'process',
    async getMany(ids) {
      const found = new Map<string, ProductRecord>();
      for (const id of ids) {
        const product = entries.get(id)?.product;
        if (product) found.set(id, product);
      }
      return found;
    },
    async setMany(products) {
      for (const product of products) put(product.id, { version: productVersion(product), product });
    },
    async invalidate(list) {
      for (const { id, version } of list) put(id, { version, product: null });
    },
    ready: async () => !closed,
    close: async () => {
      closed = true;
      entries.clear();
    },
  };
}
