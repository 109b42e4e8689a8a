import { eventConsumer, OutboxRelay } from '../../platform/outbox-relay';
import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { PaymentContext } from './context';
import { PAYMENT_CONSUMER_GROUP, PAYMENT_EVENT_TYPES, PaymentSaga } from './payment-saga';
import { PaymentService } from './payment-service';
import type { PaymentProvider } from './provider/port';
import { retryPolicy, type RetryPolicy } from './provider/retry';
import { SimulatedCardProcessor } from './provider/simulated';
import { resolvers } from './resolvers';
import { PAYMENT_EVENT_TABLES, PAYMENT_MIGRATIONS, PAYMENT_SCHEMA, postgresPaymentStore, type PostgresPaymentStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/** Opens payment's store: PostgreSQL at PAYMENT_DATABASE_URL (a database of its own), or embedded PGlite. */
export async function openPaymentStore(deps: SubgraphDeps): Promise<PostgresPaymentStore> {
  return postgresPaymentStore(
    await openSubgraphDatabase(deps, 'payment', { schema: PAYMENT_SCHEMA, migrationsFolder: PAYMENT_MIGRATIONS }),
  );
}

export interface PaymentSubgraphOptions {
  /** The card processor; default a `SimulatedCardProcessor` (test tokens in provider/simulated.ts). */
  provider?: PaymentProvider;
  /** Retries of transient processor failures; default 4 attempts, 100 ms doubling up to 2 s, with jitter. */
  retry?: Partial<RetryPolicy>;
  /** Waits between retries; tests pass a fast one. Default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The payment subgraph on a given store: its schema, and as workers the outbox relay and
 * the 'payment' consumer of the checkout saga. `service` is what resolvers call; `saga`,
 * `relay` and `provider` are exposed for the embedded shop and tests.
 */
export function paymentSubgraph(store: PostgresPaymentStore, deps: SubgraphDeps, options: PaymentSubgraphOptions = {}) {
  const payments = new PaymentService(store);
  const provider = options.provider ?? new SimulatedCardProcessor();
  const relay = new OutboxRelay({
    database: store.database,
    tables: PAYMENT_EVENT_TABLES,
    bus: deps.events,
    logger: deps.logger.child({ component: 'payment-outbox' }),
    pollMs: deps.config.OUTBOX_POLL_MS,
  });
  const saga = new PaymentSaga({
    store,
    provider,
    logger: deps.logger.child({ component: 'payment-saga' }),
    retry: retryPolicy(options.retry),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    onEventsWritten: () => relay.notify(),
  });
  const consumer = eventConsumer(deps.events, PAYMENT_CONSUMER_GROUP, PAYMENT_EVENT_TYPES, (event) => saga.handle(event).then(() => {}), {
    maxDeliveries: deps.config.EVENT_MAX_DELIVERIES,
  });
  const definition: SubgraphDefinition<PaymentContext> = {
    name: 'payment',
    typeDefs,
    resolvers,
    stores: [store],
    context: (base) => ({ ...base, payments, loaders: payments.loaders() }),
    workers: [relay, consumer],
  };
  return { ...definition, service: payments, saga, relay, provider };
}

export async function createPaymentSubgraph(deps: SubgraphDeps, options: PaymentSubgraphOptions = {}) {
  return paymentSubgraph(await openPaymentStore(deps), deps, options);
}
