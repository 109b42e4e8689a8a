import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { ProductSearchContext } from './context';
import { ProductSearchService } from './product-search-service';
import { resolvers } from './resolvers';
import { seedCatalog } from './seed';
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

/** The product-search subgraph on a given store; `service` is what seeding and imports write through. */
export function productSearchSubgraph(
  store: CatalogStore,
  currency: string,
): SubgraphDefinition<ProductSearchContext> & { service: ProductSearchService } {
  const productSearch = new ProductSearchService(store.catalog, store.index, currency);
  return {
    name: 'product-search',
    typeDefs,
    resolvers,
    stores: [store],
    service: productSearch,
    context: (base) => ({ ...base, productSearch, loaders: productSearch.loaders() }),
    seed: ({ shop }) => seedCatalog(productSearch, shop),
  };
}

export async function createProductSearchSubgraph(deps: SubgraphDeps) {
  return productSearchSubgraph(await openCatalogStore(deps), deps.config.SHOP_CURRENCY);
}
