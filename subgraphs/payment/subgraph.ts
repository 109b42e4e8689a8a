import { eventRetentionWorker } from '../../platform/event-retention';
import { eventConsumer, OutboxRelay } from '../../platform/outbox-relay';
import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { PaymentContext } from './context';
import { PAYMENT_CONSUMER_GROUP, PAYMENT_EVENT_TYPES, PaymentSaga } from './payment-saga';
import { PaymentService } from './payment-service';
import { countPaymentsNeedingAttentionWith, NEEDS_ATTENTION } from './metrics';
import type { PaymentProvider } from './provider/port';
import { retryPolicy, type RetryPolicy } from './provider/retry';
import { SIMULATED_PROCESSOR_MIGRATIONS, SIMULATED_PROCESSOR_SCHEMA, SimulatedCardProcessor } from './provider/simulated';
import type { StoreHandle } from '../../platform/server';
import { resolvers } from './resolvers';
import { PAYMENT_EVENT_TABLES, PAYMENT_MIGRATIONS, PAYMENT_SCHEMA, postgresPaymentStore, type PostgresPaymentStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/** Opens payment's store: PostgreSQL at PAYMENT_DATABASE_URL (a database of its own), or embedded PGlite. */
export async function openPaymentStore(deps: SubgraphDeps): Promise<PostgresPaymentStore> {
  return postgresPaymentStore(
    await openSubgraphDatabase(deps, 'payment', { schema: PAYMENT_SCHEMA, migrationsFolder: PAYMENT_MIGRATIONS }),
  );
}

/**
 * Opens the simulated card processor on storage of its own: schema `card_processor` on the
 * payment database (PAYMENT_DATABASE_URL) or the embedded instance, which the payment
 * domain never reads. Its ledger outlives restarts of the payment subgraph.
 */
export async function openSimulatedProcessor(deps: SubgraphDeps): Promise<{ processor: SimulatedCardProcessor; store: StoreHandle }> {
  const database = await openSubgraphDatabase(deps, 'payment', {
    schema: SIMULATED_PROCESSOR_SCHEMA,
    migrationsFolder: SIMULATED_PROCESSOR_MIGRATIONS,
  });
  return {
    processor: new SimulatedCardProcessor(database),
    store: { ready: () => database.ready(), close: () => database.close(), statementCount: () => database.stats.statements },
  };
}

export interface PaymentSubgraphOptions {
  /** The card processor (test tokens of the simulated one in provider/simulated.ts). */
  provider: PaymentProvider;
  /** Storage the provider keeps and the subgraph closes on stop (the simulated processor's); default none. */
  providerStore?: StoreHandle;
  /** Retries of transient processor failures; default 4 attempts, 100 ms doubling up to 2 s, with jitter. */
  retry?: Partial<RetryPolicy>;
  /** Waits between retries; tests pass a fast one. Default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The payment subgraph on a given store: its schema, and as workers the outbox relay, the
 * 'payment' consumer of the checkout saga and the deletion of event records past their
 * retention. `service` is what resolvers call; `saga`,
 * `relay` and `provider` are exposed for the embedded shop and tests.
 */
export function paymentSubgraph(store: PostgresPaymentStore, deps: SubgraphDeps, options: PaymentSubgraphOptions) {
  const { provider } = options;
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
  const payments = new PaymentService(store, saga);
  countPaymentsNeedingAttentionWith(() => store.countByStatus(NEEDS_ATTENTION));
  const consumer = eventConsumer(deps.events, PAYMENT_CONSUMER_GROUP, PAYMENT_EVENT_TYPES, (event) => saga.handle(event).then(() => {}), {
    maxDeliveries: deps.config.EVENT_MAX_DELIVERIES,
  });
  const definition: SubgraphDefinition<PaymentContext> = {
    name: 'payment',
    typeDefs,
    resolvers,
    // Closed in reverse: the processor's storage after the payment store's users are gone.
    stores: options.providerStore ? [options.providerStore, store] : [store],
    context: (base) => ({ ...base, payments, loaders: payments.loaders() }),
    workers: [relay, consumer, eventRetentionWorker('payment', store.database, PAYMENT_EVENT_TABLES, deps.config, deps.logger)],
  };
  return { ...definition, service: payments, saga, relay, provider };
}

/** The payment subgraph on its store, charging through the simulated card processor. */
export async function createPaymentSubgraph(deps: SubgraphDeps, options: Omit<PaymentSubgraphOptions, 'provider' | 'providerStore'> = {}) {
  const store = await openPaymentStore(deps);
  const { processor, store: providerStore } = await openSimulatedProcessor(deps);
  return paymentSubgraph(store, deps, { ...options, provider: processor, providerStore });
}
