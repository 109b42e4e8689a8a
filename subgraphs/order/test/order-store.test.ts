import { storeBackends, testDeps } from '../../../platform/testing';
import { openOrderStore } from '../subgraph';
import { orderStoreContract } from './order-store.contract';

describe.each(storeBackends())('OrderStore on %s', (backend) => {
  orderStoreContract(async () => {
    const deps = await testDeps(backend, ['order']);
    const store = await openOrderStore(deps);
    return {
      store,
      release: async () => {
        await store.close();
        await deps.release();
      },
    };
  });
});
