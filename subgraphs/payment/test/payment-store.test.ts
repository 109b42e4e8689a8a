import { asc, eq } from 'drizzle-orm';
import postgres from 'postgres';
import { domainEvent } from '../../../platform/events';
import { describeOnServer, genericPlan, storeBackends, testDeps } from '../../../platform/testing';
import { orderPaymentStatesQuery } from '../store/postgres';
import { outbox, payments } from '../store/schema';
import { openPaymentStore } from '../subgraph';
import { newIntent, newPayment, paymentStoreContract } from './payment-store.contract';

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

describe.each(storeBackends())('Payment statements on %s', (backend) => {
  it('reads the states of many orders by key, even in a plan cached on a new shop\'s empty tables', async () => {
    // A connection keeps a generic plan until the tables are analyzed; a new shop's first one is made
    // on empty tables, and the tables grow under it.
    const deps = await testDeps(backend, ['payment']);
    const store = await openPaymentStore(deps);
    try {
      const plan = await genericPlan(store.database, orderPaymentStatesQuery(store.database.db).getQuery().sql);
      for (const [table, index] of [
        ['payment_intents', 'payment_intents_pkey'],
        ['payments', 'payments_order_id_unique'],
        ['order_closures', 'order_closures_pkey'],
      ]) {
        expect(plan).toMatch(new RegExp(`Index Scan using ${index} on ${table}`));
        expect(plan).not.toMatch(new RegExp(`Seq Scan on ${table}`));
      }
    } finally {
      await store.close();
      await deps.release();
    }
  });
});

describeOnServer('PaymentStore on postgres, beside a writer that skips the order lock', () => {
  it('fails a decision whose payment that writer inserted meanwhile, and keeps nothing of it', async () => {
    const deps = await testDeps('postgres', ['payment']);
    const store = await openPaymentStore(deps);
    try {
      const orderId = 'order-u1';
      await store.acceptIntent('payment', 'placed-u1', newIntent(orderId));
      const payment = newPayment('u1', { amount: 2599 });
      // A payment inserted without the order's lock and not yet committed: the decision sees the order
      // open, then meets that row when it writes its own.
      let commit!: () => void;
      let inserted!: () => void;
      const written = new Promise<void>((resolve) => (inserted = resolve));
      const writer = store.database.db.transaction(async (tx) => {
        await tx.insert(payments).values({ ...payment, id: 'u1-elsewhere' });
        inserted();
        await new Promise<void>((resolve) => (commit = resolve));
      });
      await written;
      const announced = [domainEvent('PaymentAuthorized', orderId, { orderId, paymentId: 'u1', amount: { amount: 2599, currency: 'USD' } })];
      const recording = store.recordDecision('payment', 'reserved-u1', payment, announced);
      recording.catch(() => {});
      // Committed only once the decision waits on that row, so it read the order before the commit.
      const observer = postgres(deps.config.subgraphs.payment.databaseUrl!, { max: 1, onnotice: () => {} });
      try {
        for (let waited = 0; ; waited += 20) {
          const [waiting] = await observer`select count(*)::int as n from pg_stat_activity
            where wait_event_type = 'Lock' and query like '%record-authorization-decision%'`;
          if (waiting!.n > 0) break;
          if (waited > 10_000) throw new Error('the decision never waited on the row');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await observer.end();
      }
      commit();
      await writer;
      // The driver's error, as drizzle hands it on.
      const failure = (await recording.then(() => null, (error: unknown) => error)) as (Error & { cause?: Error }) | null;
      expect(failure?.cause?.message).toBe('payment of order order-u1 appeared while its decision was recorded');
      expect(await store.database.db.select({ type: outbox.type }).from(outbox).where(eq(outbox.aggregateId, orderId))).toEqual([]);
      expect((await store.orderPaymentState(orderId)).payment?.id).toBe('u1-elsewhere');
      // Nothing of the failed statement stayed: the message is not recorded, so its redelivery is handled.
      expect(await store.inOrderTransaction(orderId, (tx) => tx.markProcessed('payment', 'reserved-u1'))).toBe(true);
    } finally {
      await store.close();
      await deps.release();
    }
  });
});
