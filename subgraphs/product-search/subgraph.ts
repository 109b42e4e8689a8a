import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { PubSub } from '../../platform/pubsub';
import type { Logger } from '../../platform/logger';
import type { StoreHandle } from '../../platform/server';
import { CachedProducts } from './cached-products';
import type { ProductSearchContext } from './context';
import { ProductSearchService } from './product-search-service';
import { resolvers } from './resolvers';
import { seedCatalog } from './seed';
import type { ProductCache } from './store/cache';
import { memoryProductCache } from './store/cache-memory';
import { redisProductCache } from './store/cache-redis';
import type { CatalogStore } from './store/port';
import { CATALOG_MIGRATIONS, CATALOG_SCHEMA, postgresCatalogStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/**
 * Opens the catalog and its search index: PostgreSQL at PRODUCT_SEARCH_DATABASE_URL,
 * or the embedded PGlite, both ports on the same tables.
 */
export async function openCatalogStore(deps: SubgraphDeps): Promise<CatalogStore> {
  return postgresCatalogStore(
    await openSubgraphDatabase(deps, 'product-search', { schema: CATALOG_SCHEMA, migrationsFolder: CATALOG_MIGRATIONS }),
  );
}

/**
 * Opens the product cache: Redis at PRODUCT_CACHE_REDIS_URL, shared by every replica, or
 * an LRU in this process.
 */
export function openProductCache(deps: Pick<SubgraphDeps, 'config' | 'logger'>): ProductCache {
  const { PRODUCT_CACHE_REDIS_URL: url, PRODUCT_CACHE_TTL_SECONDS: ttlSeconds, PRODUCT_CACHE_MAX_ENTRIES: maxEntries } = deps.config;
  if (url) return redisProductCache({ url, ttlSeconds, logger: deps.logger.child({ component: 'product-cache' }) });
  return memoryProductCache({ ttlSeconds, maxEntries });
}

export interface ProductSearchOptions {
  /** Products are read through it; default an in-process LRU of this subgraph's own. */
  cache?: ProductCache;
  /** Where writes announce invalidations to the caches of other replicas; default none (one process). */
  pubsub?: PubSub;
  logger?: Logger;
}

/**
 * The cache as a store of the subgraph: closed with it, but never holding `/ready` back (an
 * outage degrades to the catalog) and no statements counted (they are the catalog's).
 */
function cacheHandle(cache: ProductCache): StoreHandle {
  return { ready: async () => true, close: () => cache.close(), statementCount: () => 0 };
}

/** The product-search subgraph on a given store; `service` is what seeding and imports write through. */
export function productSearchSubgraph(
  store: CatalogStore,
  currency: string,
  options: ProductSearchOptions = {},
): SubgraphDefinition<ProductSearchContext> & { service: ProductSearchService; cachedProducts: CachedProducts } {
  const cache = options.cache ?? memoryProductCache();
  const cachedProducts = new CachedProducts({
    catalog: store.catalog,
    cache,
    ...(options.pubsub ? { pubsub: options.pubsub } : {}),
    ...(options.logger ? { logger: options.logger.child({ component: 'product-cache' }) } : {}),
  });
  const productSearch = new ProductSearchService(store.catalog, store.index, currency, cachedProducts);
  return {
    name: 'product-search',
    typeDefs,
    resolvers,
    stores: [store, cacheHandle(cache)],
    service: productSearch,
    cachedProducts,
    context: (base) => ({ ...base, productSearch, loaders: productSearch.loaders() }),
    seed: ({ shop }) => seedCatalog(productSearch, shop),
    workers: [cachedProducts.invalidationListener()],
  };
}

export async function createProductSearchSubgraph(deps: SubgraphDeps) {
  const store = await openCatalogStore(deps);
  return productSearchSubgraph(store, deps.config.SHOP_CURRENCY, {
    cache: openProductCache(deps),
    pubsub: await deps.pubsub(),
    logger: deps.logger,
  });
}
