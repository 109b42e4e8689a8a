import { storeBackends, testDeps } from '../../../platform/testing';
import { openPaymentStore } from '../subgraph';
import { paymentStoreContract } from './payment-store.contract';

describe.each(storeBackends())('PaymentStore on %s', (backend) => {
  paymentStoreContract(async () => {
    const deps = await testDeps(backend, ['payment']);
    const store = await openPaymentStore(deps);
    return {
      store,
      release: async () => {
        await store.close();
        await deps.release();
      },
    };
  });
});
