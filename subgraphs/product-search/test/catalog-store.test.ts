import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { elasticsearchAvailable, mongoAvailable, storeBackends, testDeps, TEST_ELASTICSEARCH_URL, TEST_MONGODB_URL } from '../../../platform/testing';
import { openMongoCatalog } from '../store/mongo';
import { postgresProductCatalog } from '../store/postgres';
import { openCatalogDatabase, openCatalogStore } from '../subgraph';
import { openElasticsearchStore } from './elasticsearch-fixture';
import { productCatalogContract } from './product-catalog.contract';
import { productSearchIndexContract } from './product-search-index.contract';

async function openStore(backend: 'pglite' | 'postgres') {
  const deps = await testDeps(backend, ['product-search']);
  const store = await openCatalogStore(deps);
  return {
    catalog: store.catalog,
    index: store.index,
    release: async () => {
      await store.close();
      await deps.release();
    },
  };
}

/** The PostgreSQL catalog as it runs beside a separate index: recording its index outbox. */
async function openPostgresCatalog(backend: 'pglite' | 'postgres') {
  const deps = await testDeps(backend, ['product-search']);
  const catalog = postgresProductCatalog(await openCatalogDatabase(deps), { indexOutbox: true });
  return {
    catalog,
    release: async () => {
      await catalog.close();
      await deps.release();
    },
  };
}

/** The MongoDB catalog on a database of its own, dropped after. */
async function openMongoCatalogForTest(url: string) {
  const database = `test_catalog_${randomBytes(6).toString('hex')}`;
  const deps = await testDeps('pglite');
  const catalog = await openMongoCatalog({ url, database, poolSize: 5, requestTimeoutMs: 5000, logger: deps.logger });
  return {
    catalog,
    release: async () => {
      await catalog.close();
      const admin = new MongoClient(url);
      try {
        await admin.db(database).dropDatabase();
      } finally {
        await admin.close();
        await deps.release();
      }
    },
  };
}

const catalogBackends: [string, () => ReturnType<typeof openPostgresCatalog>][] = storeBackends().map((backend) => [
  backend,
  () => openPostgresCatalog(backend),
]);
if (mongoAvailable()) catalogBackends.push(['mongodb', () => openMongoCatalogForTest(TEST_MONGODB_URL!)]);

describe.each(catalogBackends)('ProductCatalog on %s', (_name, open) => {
  productCatalogContract(open);
});

describe.each(storeBackends())('ProductSearchIndex on %s', (backend) => {
  productSearchIndexContract(() => openStore(backend));
});

if (elasticsearchAvailable()) {
  describe('ProductSearchIndex on elasticsearch', () => {
    productSearchIndexContract(() => openElasticsearchStore(TEST_ELASTICSEARCH_URL!));
  });
}
