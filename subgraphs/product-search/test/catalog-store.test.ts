import { storeBackends, testDeps } from '../../../platform/testing';
import { openCatalogStore } from '../subgraph';
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

describe.each(storeBackends())('ProductCatalog on %s', (backend) => {
  productCatalogContract(() => openStore(backend));
});

describe.each(storeBackends())('ProductSearchIndex on %s', (backend) => {
  productSearchIndexContract(() => openStore(backend));
});
