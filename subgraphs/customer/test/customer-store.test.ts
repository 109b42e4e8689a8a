import { storeBackends, testDeps } from '../../../platform/testing';
import { openCustomerStore } from '../subgraph';
import { customerStoreContract } from './customer-store.contract';

describe.each(storeBackends())('CustomerStore on %s', (backend) => {
  customerStoreContract(async () => {
    const deps = await testDeps(backend, ['customer']);
    const store = await openCustomerStore(deps);
    return {
      store,
      release: async () => {
        await store.close();
        await deps.release();
      },
    };
  });
});
