import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { PaymentContext } from './context';
import { PaymentService } from './payment-service';
import { resolvers } from './resolvers';
import { seedPayments } from './seed';
import type { PaymentStore } from './store/port';
import { PAYMENT_MIGRATIONS, PAYMENT_SCHEMA, postgresPaymentStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/** Opens payment's store: PostgreSQL at PAYMENT_DATABASE_URL (a database of its own), or embedded PGlite. */
export async function openPaymentStore(deps: SubgraphDeps): Promise<PaymentStore> {
  return postgresPaymentStore(
    await openSubgraphDatabase(deps, 'payment', { schema: PAYMENT_SCHEMA, migrationsFolder: PAYMENT_MIGRATIONS }),
  );
}

/** The payment subgraph on a given store; `service` is what seeding and event handlers call. */
export function paymentSubgraph(store: PaymentStore): SubgraphDefinition<PaymentContext> & { service: PaymentService } {
  const payments = new PaymentService(store);
  return {
    name: 'payment',
    service: payments,
    typeDefs,
    resolvers,
    stores: [store],
    context: (base) => ({ ...base, payments, loaders: payments.loaders() }),
    seed: ({ shop }) => seedPayments(payments, shop),
  };
}

export async function createPaymentSubgraph(deps: SubgraphDeps) {
  return paymentSubgraph(await openPaymentStore(deps));
}
