import type { Config } from '../../platform/config';
import type { EventRetentionConfig } from '../../platform/event-retention';
import type { EventBus } from '../../platform/events';
import type { Logger } from '../../platform/logger';
import type { PubSub } from '../../platform/pubsub';
import { eventConsumer, type OutboxRelay } from '../../platform/outbox-relay';
import {
  loadTypeDefs,
  openSubgraphDatabase,
  type SubgraphDeps,
  type SubgraphDefinition,
  type Worker,
} from '../../platform/subgraph';
import type { InventoryContext } from './context';
import { InventoryService } from './inventory-service';
import { INVENTORY_CONSUMER_GROUP, RESERVATION_EVENTS, ReservationService } from './reservation-service';
import { ReservationSweeper } from './reservation-sweeper';
import { resolvers } from './resolvers';
import { seedInventory } from './seed';
import { StockFeed } from './stock-feed';
import type { StockStore } from './store/port';
import { INVENTORY_MIGRATIONS, INVENTORY_SCHEMA, postgresStockStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/** Opens inventory's store: PostgreSQL at INVENTORY_DATABASE_URL, or embedded PGlite. */
export async function openInventoryStore(deps: SubgraphDeps): Promise<StockStore> {
  return postgresStockStore(
    await openSubgraphDatabase(deps, 'inventory', { schema: INVENTORY_SCHEMA, migrationsFolder: INVENTORY_MIGRATIONS }),
  );
}

/** What inventory needs to take part in checkout; SubgraphDeps provides all but the options. */
export interface InventoryEventWiring {
  /** The event bus, opened on first use by the workers. */
  events: () => Promise<EventBus>;
  config: Pick<Config, 'RESERVATION_TTL_SECONDS' | 'OUTBOX_POLL_MS' | 'EVENT_MAX_DELIVERIES'> & EventRetentionConfig;
  logger: Logger;
  /** Pause between expiry sweeps, in ms; default 5000. */
  sweepIntervalMs?: number;
  /** The clock of reservations; default the system clock. */
  now?: () => Date;
}

export type InventorySubgraph = SubgraphDefinition<InventoryContext> & {
  /** What seeding calls. */
  service: InventoryService;
  /** The checkout handlers and the expiry sweep; present when wired to events. */
  reservations?: ReservationService;
  /** The outbox relay worker; present when wired to events. */
  relay?: OutboxRelay;
};

/** Where inventory announces stock changes for `stockChanged` subscribers. */
export interface InventoryLiveWiring {
  /** The process's pub/sub, opened on first use. */
  pubsub: () => Promise<PubSub>;
  logger: Logger;
}

/**
 * The inventory subgraph on a given store. With `events` it also runs its checkout
 * workers, started in this order and stopped in reverse: the outbox relay, the
 * 'inventory' consumer of order events, the reservation expiry sweeper, and the deletion of
 * event records past their retention.
 * Without, it serves stock levels only. With `live`, every committed stock change is
 * announced to `stockChanged` subscribers; without, that subscription is unavailable.
 */
export function inventorySubgraph(store: StockStore, events?: InventoryEventWiring, live?: InventoryLiveWiring): InventorySubgraph {
  const feed = live ? new StockFeed(live.pubsub, live.logger.child({ subgraph: 'inventory' })) : undefined;
  const inventory = new InventoryService(store, feed);
  const definition: InventorySubgraph = {
    name: 'inventory',
    service: inventory,
    typeDefs,
    resolvers,
    stores: [store],
    context: (base) => ({ ...base, inventory, loaders: inventory.loaders() }),
    seed: ({ shop }) => seedInventory(inventory, shop),
  };
  if (!events) return definition;

  const logger = events.logger.child({ subgraph: 'inventory' });
  const relay = store.outboxRelay({ bus: events.events, logger, pollMs: events.config.OUTBOX_POLL_MS });
  const reservations = new ReservationService(store, {
    ttlSeconds: events.config.RESERVATION_TTL_SECONDS,
    logger,
    onEventsWritten: () => relay.notify(),
    ...(feed ? { onStockChanged: (productIds: readonly string[]) => feed.changed(productIds) } : {}),
    ...(events.now ? { now: events.now } : {}),
  });
  const workers: Worker[] = [
    relay,
    eventConsumer(events.events, INVENTORY_CONSUMER_GROUP, RESERVATION_EVENTS, (event) => reservations.handle(event), {
      maxDeliveries: events.config.EVENT_MAX_DELIVERIES,
    }),
    new ReservationSweeper(reservations, {
      logger,
      ...(events.sweepIntervalMs !== undefined ? { intervalMs: events.sweepIntervalMs } : {}),
    }),
    store.eventRetention(events.config, logger),
  ];
  return { ...definition, reservations, relay, workers };
}

export async function createInventorySubgraph(deps: SubgraphDeps) {
  return inventorySubgraph(await openInventoryStore(deps), { ...deps, sweepIntervalMs: deps.config.RESERVATION_SWEEP_MS }, deps);
}
