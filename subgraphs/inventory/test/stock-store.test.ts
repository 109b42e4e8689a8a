import { storeBackends, testDeps } from '../../../platform/testing';
import { openInventoryStore } from '../subgraph';
import { stockStoreContract } from './stock-store.contract';

describe.each(storeBackends())('StockStore on %s', (backend) => {
  stockStoreContract(async () => {
    const deps = await testDeps(backend, ['inventory']);
    const store = await openInventoryStore(deps);
    return {
      store,
      release: async () => {
        await store.close();
        await deps.release();
      },
    };
  });
});
