import { eventRetentionWorker } from '../../platform/event-retention';
import { eventConsumer, OutboxRelay } from '../../platform/outbox-relay';
import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import { CachedProductPrices } from './catalog/cached';
import { httpProductPrices } from './catalog/http';
import type { ProductPrices } from './catalog/port';
import type { OrderContext } from './context';
import { DeadLetterService } from './dead-letters';
import { OrderService } from './order-service';
import { CONSUMED_EVENT_TYPES, ORDER_CONSUMER_GROUP } from './order-saga';
import { resolvers } from './resolvers';
import type { OrderStore } from './store/port';
import { ORDER_MIGRATIONS, ORDER_SCHEMA, postgresOrderStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/** Opens the order store: PostgreSQL at ORDER_DATABASE_URL, or embedded PGlite. */
export async function openOrderStore(deps: SubgraphDeps): Promise<OrderStore> {
  return postgresOrderStore(
    await openSubgraphDatabase(deps, 'order', { schema: ORDER_SCHEMA, migrationsFolder: ORDER_MIGRATIONS }),
  );
}

export interface OrderSubgraphOptions {
  /**
   * Where catalog prices come from; default product-search over HTTP at its peer URL, kept in
   * this process between product changes when there is a pub/sub to hear them on.
   */
  prices?: ProductPrices;
  /** When an order is placed; default the system time (see OrderServiceOptions.now). */
  now?: () => Date;
}

/**
 * The order subgraph on a given store, with its workers: the outbox relay that publishes
 * what checkout and order changes announce, the consumer of the saga's events, and the
 * deletion of event records past their retention.
 * `service` is what the embedded shop's demo history calls; `relay` lets tests publish on demand.
 */
export function orderSubgraph(
  store: OrderStore,
  /** Without `pubsub`, orders cannot be watched live. */
  deps: Pick<SubgraphDeps, 'logger' | 'config' | 'events' | 'peers'> & Partial<Pick<SubgraphDeps, 'pubsub'>>,
  options: OrderSubgraphOptions = {},
): SubgraphDefinition<OrderContext> & { service: OrderService; relay: OutboxRelay } {
  const relay = new OutboxRelay({
    database: store.outbox.database,
    tables: store.outbox.tables,
    bus: deps.events,
    logger: deps.logger.child({ component: 'order-outbox-relay' }),
    pollMs: deps.config.OUTBOX_POLL_MS,
  });
  const fromCatalog = () =>
    httpProductPrices({ url: () => deps.peers.url('product-search'), logger: deps.logger.child({ component: 'product-prices' }) });
  const cachedPrices =
    !options.prices && deps.pubsub
      ? new CachedProductPrices({
          source: fromCatalog(),
          pubsub: deps.pubsub,
          ttlMs: deps.config.PRODUCT_CACHE_TTL_SECONDS * 1000,
          maxEntries: deps.config.PRODUCT_CACHE_MAX_ENTRIES,
          logger: deps.logger.child({ component: 'price-cache' }),
        })
      : undefined;
  const prices = options.prices ?? cachedPrices ?? fromCatalog();
  const orders = new OrderService(store, {
    prices,
    currency: deps.config.SHOP_CURRENCY,
    logger: deps.logger.child({ component: 'order-service' }),
    afterCommit: () => relay.notify(),
    ...(options.now ? { now: options.now } : {}),
    ...(deps.pubsub ? { pubsub: deps.pubsub } : {}),
  });
  const deadLetters = new DeadLetterService(deps.events);
  const consumer = eventConsumer(deps.events, ORDER_CONSUMER_GROUP, CONSUMED_EVENT_TYPES, (event) => orders.handleEvent(event), {
    maxDeliveries: deps.config.EVENT_MAX_DELIVERIES,
  });
  return {
    name: 'order',
    typeDefs,
    resolvers,
    service: orders,
    relay,
    stores: [store],
    workers: [
      relay,
      consumer,
      eventRetentionWorker('order', store.outbox.database, store.outbox.tables, deps.config, deps.logger),
      ...(cachedPrices ? [cachedPrices.invalidationListener()] : []),
    ],
    context: (base) => ({ ...base, orders, deadLetters, loaders: orders.loaders(base.requestId) }),
  };
}

export async function createOrderSubgraph(deps: SubgraphDeps, options: OrderSubgraphOptions = {}) {
  return orderSubgraph(await openOrderStore(deps), deps, options);
}
