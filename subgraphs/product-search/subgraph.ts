import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { PubSub } from '../../platform/pubsub';
import { silentLogger, type Logger } from '../../platform/logger';
import type { StoreHandle } from '../../platform/server';
import { CachedProducts } from './cached-products';
import type { ProductSearchContext } from './context';
import { CatalogIndexRelay } from './index-relay';
import { ProductSearchService } from './product-search-service';
import { resolvers } from './resolvers';
import { seedCatalog } from './seed';
import type { ProductCache } from './store/cache';
import { memoryProductCache } from './store/cache-memory';
import { redisProductCache } from './store/cache-redis';
import { openElasticsearchIndex } from './store/elasticsearch';
import { openMongoCatalog } from './store/mongo';
import type { CatalogStore, ProductCatalog, ProductSearchIndex } from './store/port';
import { CATALOG_MIGRATIONS, CATALOG_SCHEMA, postgresCatalogStore, postgresProductCatalog } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/** Product-search's PostgreSQL database, migrated: the server at PRODUCT_SEARCH_DATABASE_URL, or a schema of the embedded PGlite. */
export function openCatalogDatabase(deps: SubgraphDeps) {
  return openSubgraphDatabase(deps, 'product-search', { schema: CATALOG_SCHEMA, migrationsFolder: CATALOG_MIGRATIONS });
}

/**
 * Opens the catalog and its search index. The catalog is on MongoDB at PRODUCT_MONGODB_URL,
 * otherwise on PostgreSQL; the index is on Elasticsearch at PRODUCT_ELASTICSEARCH_URL, fed
 * through the catalog's index outbox, otherwise it is PostgreSQL's full-text search over the
 * catalog's own tables. (A catalog on MongoDB needs Elasticsearch: the configuration refuses one
 * without the other.)
 */
export async function openCatalogStore(deps: SubgraphDeps): Promise<CatalogStore> {
  const { PRODUCT_MONGODB_URL: mongoUrl, PRODUCT_ELASTICSEARCH_URL: elasticsearchUrl } = deps.config;
  if (!elasticsearchUrl) {
    if (mongoUrl) throw new Error('PRODUCT_MONGODB_URL needs PRODUCT_ELASTICSEARCH_URL: a catalog on MongoDB is searched on Elasticsearch');
    return postgresCatalogStore(await openCatalogDatabase(deps));
  }
  const catalog = await openSeparateCatalog(deps);
  try {
    return separateCatalogStore(catalog, await openSearchIndex(deps, elasticsearchUrl, catalog));
  } catch (error) {
    await catalog.close();
    throw error;
  }
}

/**
 * The catalog of a shop whose search index is kept apart (on Elasticsearch): on MongoDB at
 * PRODUCT_MONGODB_URL, otherwise on PostgreSQL, recording every write in its index outbox.
 */
export async function openSeparateCatalog(deps: SubgraphDeps): Promise<ProductCatalog> {
  const mongoUrl = deps.config.PRODUCT_MONGODB_URL;
  return mongoUrl
    ? openMongoCatalog({
        url: mongoUrl,
        poolSize: deps.config.MONGODB_POOL_SIZE,
        requestTimeoutMs: deps.config.STORE_REQUEST_TIMEOUT_MS,
        logger: deps.logger.child({ store: 'catalog' }),
      })
    : postgresProductCatalog(await openCatalogDatabase(deps), { indexOutbox: true });
}

/** The search index on Elasticsearch, through the alias PRODUCT_ELASTICSEARCH_INDEX; built from `catalog` when the alias is new. */
function openSearchIndex(deps: SubgraphDeps, url: string, catalog: ProductCatalog): Promise<ProductSearchIndex> {
  return openElasticsearchIndex({
    url,
    alias: deps.config.PRODUCT_ELASTICSEARCH_INDEX,
    requestTimeoutMs: deps.config.STORE_REQUEST_TIMEOUT_MS,
    logger: deps.logger.child({ store: 'product-search-index' }),
    catalog,
  });
}

/**
 * A catalog and a search index kept apart from it: written products reach the index through
 * the catalog's index outbox. Ready when both are; closed index first, catalog last.
 */
export function separateCatalogStore(catalog: ProductCatalog, index: ProductSearchIndex): CatalogStore {
  return {
    catalog,
    index,
    indexFeed: 'outbox',
    ready: async () => (await Promise.all([catalog.ready(), index.ready()])).every(Boolean),
    close: async () => {
      await index.close();
      await catalog.close();
    },
    statementCount: () => catalog.statementCount() + index.statementCount(),
  };
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
  /**
   * How often the index relay looks for changed products, in ms (OUTBOX_POLL_MS); default 250.
   * Only a store whose index is kept apart (`indexFeed: 'outbox'`) runs a relay.
   */
  indexRelayPollMs?: number;
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
): SubgraphDefinition<ProductSearchContext> & {
  service: ProductSearchService;
  cachedProducts: CachedProducts;
  /** Feeds the search index when it is kept apart from the catalog; absent when it reads the catalog's rows. */
  indexRelay?: CatalogIndexRelay;
} {
  const cache = options.cache ?? memoryProductCache();
  const cachedProducts = new CachedProducts({
    catalog: store.catalog,
    cache,
    ...(options.pubsub ? { pubsub: options.pubsub } : {}),
    ...(options.logger ? { logger: options.logger.child({ component: 'product-cache' }) } : {}),
  });
  const indexRelay =
    store.indexFeed === 'outbox'
      ? new CatalogIndexRelay({
          outbox: store.catalog,
          index: store.index,
          logger: (options.logger ?? silentLogger()).child({ component: 'catalog-index-relay' }),
          ...(options.indexRelayPollMs === undefined ? {} : { pollMs: options.indexRelayPollMs }),
        })
      : undefined;
  const productSearch = new ProductSearchService(store.catalog, store.index, currency, cachedProducts, () => indexRelay?.notify());
  return {
    name: 'product-search',
    typeDefs,
    resolvers,
    stores: [store, cacheHandle(cache)],
    service: productSearch,
    cachedProducts,
    ...(indexRelay ? { indexRelay } : {}),
    context: (base) => ({ ...base, productSearch, loaders: productSearch.loaders() }),
    seed: ({ shop }) => seedCatalog(productSearch, shop),
    workers: [cachedProducts.invalidationListener(), ...(indexRelay ? [indexRelay] : [])],
  };
}

export async function createProductSearchSubgraph(deps: SubgraphDeps) {
  const store = await openCatalogStore(deps);
  return productSearchSubgraph(store, deps.config.SHOP_CURRENCY, {
    cache: openProductCache(deps),
    pubsub: await deps.pubsub(),
    logger: deps.logger,
    indexRelayPollMs: deps.config.OUTBOX_POLL_MS,
  });
}
