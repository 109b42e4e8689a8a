import { asc, eq } from 'drizzle-orm';
import { storeBackends, testDeps } from '../../../platform/testing';
import { outbox } from '../store/schema';
import { openPaymentStore } from '../subgraph';
import { paymentStoreContract } from './payment-store.contract';

describe.each(storeBackends())('PaymentStore on %s', (backend) => {
  paymentStoreContract(async () => {
    const deps = await testDeps(backend, ['payment']);
    const store = await openPaymentStore(deps);
    return {
      store,
      outboxTypes: async (aggregateId) =>
        (
          await store.database.db
            .select({ type: outbox.type })
            .from(outbox)
            .where(eq(outbox.aggregateId, aggregateId))
            .orderBy(asc(outbox.seq))
        ).map((row) => row.type),
      release: async () => {
        await store.close();
        await deps.release();
      },
    };
  }, backend);
});
