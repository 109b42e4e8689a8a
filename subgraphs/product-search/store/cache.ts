import type { ProductRecord } from './port';

/**
 * Products kept close to the subgraph so repeated reads and the router's entity batches
 * skip the catalog (Redis shared by every replica in production, an in-process LRU
 * embedded). An entry carries its product's version (`updatedAt` in milliseconds): a
 * write never replaces an entry of a newer version, so a reader that loaded a product
 * just before an update cannot put the old one back. An invalidation leaves a tombstone
 * of the written version, which reads as a miss and keeps older versions out.
 */
export interface ProductCache {
  /**
   * `process`: each process holds its own entries, so a write on one replica must reach the
   * others (pub/sub) to drop theirs; `shared`: every replica reads the same entries.
   */
  readonly scope: 'process' | 'shared';
  /** Cached products by id in one round trip; ids absent or invalidated are missing from the map. */
  getMany(ids: readonly string[]): Promise<Map<string, ProductRecord>>;
  /** Caches products in one round trip, each unless its entry holds a newer version. */
  setMany(products: readonly ProductRecord[]): Promise<void>;
  /** Drops products as of `version` (tombstones), in one round trip; a later set of an older version is refused. */
  invalidate(entries: readonly ProductVersion[]): Promise<void>;
  /** Whether the cache answers now. */
  ready(): Promise<boolean>;
  /** Disconnects; idempotent. */
  close(): Promise<void>;
}

/** A product id and the version a write made of it. */
export interface ProductVersion {
  id: string;
  version: number;
}

/** What every adapter takes. */
export interface ProductCacheOptions {
  /** How long an entry (or tombstone) lives, in seconds; default 300. */
  ttlSeconds?: number;
}

export const DEFAULT_PRODUCT_CACHE_TTL_SECONDS = 300;

/** The version an entry of `product` carries. */
export function productVersion(product: Pick<ProductRecord, 'updatedAt'>): number {
  return product.updatedAt.getTime();
}

/** A product as cache text (JSON with its dates as ISO strings). */
export function encodeProduct(product: ProductRecord): string {
  return JSON.stringify(product);
}

/**
 * The product `encodeProduct` wrote, its dates revived; null for text of a product without a
 * version (written by a release before versions), which the caller reads as a miss.
 */
export function decodeProduct(text: string): ProductRecord | null {
  const raw = JSON.parse(text) as Omit<ProductRecord, 'createdAt' | 'updatedAt' | 'archivedAt'> & {
    createdAt: string;
    updatedAt: string;
    archivedAt?: string | null;
  };
  if (typeof raw.version !== 'number') return null;
  return {
    ...raw,
    createdAt: new Date(raw.createdAt),
    updatedAt: new Date(raw.updatedAt),
    archivedAt: raw.archivedAt ? new Date(raw.archivedAt) : null,
  };
}
