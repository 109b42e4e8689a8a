import { customerBackends, customerTestStore } from './backends';
import { customerStoreContract } from './customer-store.contract';

describe.each(customerBackends())('CustomerStore on %s', (backend) => {
  customerStoreContract(async () => {
    const { deps, store } = await customerTestStore(backend);
    return {
      store,
      release: async () => {
        await store.close();
        await deps.release();
      },
    };
  });
});
