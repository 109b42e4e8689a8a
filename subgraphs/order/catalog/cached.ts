import { LRUCache } from 'lru-cache';
import type { Logger } from '../../../platform/logger';
import { isProductInvalidation, PRODUCT_INVALIDATION_TOPIC, type LiveSubscription, type PubSub } from '../../../platform/pubsub';
import type { Worker } from '../../../platform/subgraph';
import type { CatalogPrice, ProductPrices } from './port';

export interface CachedProductPricesOptions {
  /** Where prices not held come from: product-search over HTTP. */
  source: ProductPrices;
  /** The pub/sub product-search announces changed products on. */
  pubsub: () => Promise<PubSub>;
  /** How long a price is kept at most, in ms; a change of the product drops it sooner. */
  ttlMs: number;
  /** Products held at most; the least recently used make room. */
  maxEntries: number;
  logger: Logger;
}

/**
 * Catalog prices kept in this process, so carts and checkouts do not ask product-search for
 * products they priced a moment ago. A price is dropped as soon as product-search announces
 * a change of its product (PRODUCT_INVALIDATION_TOPIC, sent once the change is committed),
 * and after `ttlMs` in any case: that bounds how long a price can outlive its change when an
 * announcement is missed (pub/sub keeps nothing while a connection is down). Nothing is
 * cached until the subscription to the announcements is confirmed, or after it fails; a load
 * that an announcement overtakes answers its caller but is not kept.
 */
export class CachedProductPrices implements ProductPrices {
  private readonly source: ProductPrices;
  private readonly cache: LRUCache<string, CatalogPrice>;
  private readonly logger: Logger;
  /** Whether announcements reach this process now: only then is anything kept. */
  private listening = false;
  /** Counts announcements heard; a load that saw it change while running keeps nothing. */
  private generation = 0;

  constructor(private readonly options: CachedProductPricesOptions) {
    this.source = options.source;
    this.logger = options.logger;
    this.cache = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs, ttlAutopurge: false });
  }

  async pricesOf(productIds: readonly string[], context?: { requestId?: string }): Promise<Map<string, CatalogPrice>> {
    const found = new Map<string, CatalogPrice>();
    const missing: string[] = [];
    for (const id of new Set(productIds)) {
      const held = this.listening ? this.cache.get(id) : undefined;
      if (held) found.set(id, held);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    const generation = this.generation;
    const loaded = await this.source.pricesOf(missing, context);
    // Unknown products are not kept: one created later must not be hidden by a remembered absence.
    const keep = this.listening && generation === this.generation;
    for (const [id, price] of loaded) {
      found.set(id, price);
      if (keep) this.cache.set(id, price);
    }
    return found;
  }

  /** Products whose prices are held now. */
  get size(): number {
    return this.cache.size;
  }

  /** Listens to product-search's announcements while the subgraph runs; the cache is used only meanwhile. */
  invalidationListener(): Worker {
    let subscription: LiveSubscription | undefined;
    let loop: Promise<void> | undefined;
    return {
      name: 'price-cache-invalidations',
      start: async () => {
        const live = (await this.options.pubsub()).subscribe(PRODUCT_INVALIDATION_TOPIC);
        subscription = live;
        try {
          await live.listening;
        } catch (err) {
          this.logger.error({ err }, 'cannot hear product changes; every price is asked of the catalog');
          return;
        }
        this.listening = true;
        loop = (async () => {
          for await (const message of live) {
            if (!isProductInvalidation(message)) continue;
            this.generation += 1;
            for (const { id } of message.products) this.cache.delete(id);
          }
        })()
          .catch((err: unknown) => this.logger.error({ err }, 'product changes no longer heard; every price is asked of the catalog'))
          .finally(() => this.stopCaching());
      },
      stop: async () => {
        this.stopCaching();
        await subscription?.return();
        await loop;
      },
    };
  }

  private stopCaching(): void {
    this.listening = false;
    this.generation += 1;
    this.cache.clear();
  }
}
