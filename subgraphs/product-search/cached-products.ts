import { silentLogger, type Logger } from '../../platform/logger';
import { productCacheLookups } from '../../platform/metrics';
import { isProductInvalidation, PRODUCT_INVALIDATION_TOPIC, type LiveSubscription, type ProductInvalidation, type PubSub } from '../../platform/pubsub';
import type { Worker } from '../../platform/subgraph';
import { productVersion, type ProductCache, type ProductVersion } from './store/cache';
import type { ProductCatalog, ProductRecord } from './store/port';

/** Invalidations kept for retry while the cache does not answer; beyond it, the TTL bounds staleness. */
const MAX_PENDING_INVALIDATIONS = 10_000;

export interface CachedProductsOptions {
  catalog: ProductCatalog;
  cache: ProductCache;
  /** Where writes announce invalidations to other replicas; without it they stay in this process. */
  pubsub?: PubSub;
  logger?: Logger;
}

/**
 * Products read through the cache: one cache lookup for a batch, the misses from the
 * catalog in one query, then cached. Process-wide (the per-request DataLoaders call it):
 * a product already being loaded is not loaded again, so concurrent misses for one product
 * cost one catalog read in this process. A cache that fails or times out is skipped: the
 * catalog answers, and the outage is logged when it starts and when it ends, not per request.
 */
export class CachedProducts {
  private readonly catalog: ProductCatalog;
  private readonly cache: ProductCache;
  private readonly pubsub: PubSub | undefined;
  private readonly logger: Logger;
  /** Loads under way, by product id; a request asking for one of them waits for it. */
  private readonly inFlight = new Map<string, Promise<ProductRecord | null>>();
  /** Invalidations the cache did not take, retried once it answers again. */
  private readonly pending = new Map<string, number>();
  private failing = false;

  constructor(options: CachedProductsOptions) {
    this.catalog = options.catalog;
    this.cache = options.cache;
    this.pubsub = options.pubsub;
    this.logger = options.logger ?? silentLogger();
  }

  /** Products by id in the order asked; null for unknown ids. */
  byIds(ids: readonly string[]): Promise<(ProductRecord | null)[]> {
    const toLoad = [...new Set(ids.filter((id) => !this.inFlight.has(id)))];
    if (toLoad.length > 0) {
      const batch = this.load(toLoad);
      for (const id of toLoad) {
        const one = batch.then((found) => found.get(id) ?? null);
        this.inFlight.set(id, one);
        const settle = () => {
          if (this.inFlight.get(id) === one) this.inFlight.delete(id);
        };
        one.then(settle, settle);
      }
    }
    return Promise.all(ids.map((id) => this.inFlight.get(id)!));
  }

  /**
   * Drops written products from the cache, as of the versions the writes made, and tells
   * every replica to drop them from its own. Call after the write is committed.
   */
  async invalidate(products: readonly ProductRecord[]): Promise<void> {
    const entries = products.map((p) => ({ id: p.id, version: productVersion(p) }));
    // A load that started before the write must not serve requests that come after it.
    for (const { id } of entries) this.inFlight.delete(id);
    await this.dropFromCache(entries);
    if (!this.pubsub) return;
    try {
      await this.pubsub.publish(PRODUCT_INVALIDATION_TOPIC, { products: entries } satisfies ProductInvalidation);
    } catch (err) {
      this.logger.warn({ err, products: entries.length }, 'cannot announce product invalidation; other replicas keep their copy until its TTL');
    }
  }

  /**
   * Hears invalidations from every replica (this one included) and applies them to this
   * process's cache. A shared cache has already dropped them, so then it does nothing.
   */
  invalidationListener(): Worker {
    let subscription: LiveSubscription | undefined;
    let loop: Promise<void> | undefined;
    return {
      name: 'product-cache-invalidations',
      start: async () => {
        if (!this.pubsub || this.cache.scope === 'shared') return;
        const live = this.pubsub.subscribe(PRODUCT_INVALIDATION_TOPIC);
        subscription = live;
        await live.listening;
        loop = (async () => {
          for await (const message of live) {
            if (!isProductInvalidation(message)) continue;
            for (const { id } of message.products) this.inFlight.delete(id);
            await this.dropFromCache(message.products);
          }
        })().catch((err: unknown) => this.logger.error({ err }, 'product invalidations stopped'));
      },
      stop: async () => {
        await subscription?.return();
        await loop;
      },
    };
  }

  private async load(ids: readonly string[]): Promise<Map<string, ProductRecord>> {
    const cached = await this.guard((cache) => cache.getMany(ids));
    const found = cached ?? new Map<string, ProductRecord>();
    const misses = ids.filter((id) => !found.has(id));
    if (cached) {
      productCacheLookups.inc({ outcome: 'hit' }, found.size);
      productCacheLookups.inc({ outcome: 'miss' }, misses.length);
    } else {
      productCacheLookups.inc({ outcome: 'error' }, ids.length);
    }
    if (misses.length === 0) return found;
    const rows = await this.catalog.productsByIds(misses);
    for (const row of rows) found.set(row.id, row);
    // Unknown ids are not cached: a product created later must not be hidden by a cached absence.
    if (rows.length > 0) await this.guard((cache) => cache.setMany(rows));
    return found;
  }

  private async dropFromCache(entries: readonly ProductVersion[]): Promise<void> {
    const done = await this.guard(async (cache) => {
      await cache.invalidate(entries);
      return true;
    });
    if (done) return;
    for (const { id, version } of entries) {
      this.pending.delete(id);
      this.pending.set(id, version);
    }
    for (const id of this.pending.keys()) {
      if (this.pending.size <= MAX_PENDING_INVALIDATIONS) break;
      this.pending.delete(id);
    }
  }

  /** Runs a cache call; undefined when the cache fails, which is logged once per outage. */
  private async guard<T>(call: (cache: ProductCache) => Promise<T>): Promise<T | undefined> {
    try {
      const result = await call(this.cache);
      if (this.failing) {
        this.failing = false;
        this.logger.info('product cache answers again');
      }
      if (this.pending.size > 0) this.retryPending();
      return result;
    } catch (err) {
      if (!this.failing) {
        this.failing = true;
        this.logger.warn({ err }, 'product cache is not answering; reading products from the catalog until it does');
      }
      return undefined;
    }
  }

  private retryPending(): void {
    const entries = [...this.pending].map(([id, version]) => ({ id, version }));
    this.pending.clear();
    void this.dropFromCache(entries);
  }
}
