import type { Config } from '../../platform/config';
import type { EventBus } from '../../platform/events';
import type { Logger } from '../../platform/logger';
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
  config: Pick<Config, 'RESERVATION_TTL_SECONDS' | 'OUTBOX_POLL_MS' | 'EVENT_MAX_DELIVERIES'>;
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

/**
 * The inventory subgraph on a given store. With `events` it also runs its checkout
 * workers, started in this order and stopped in reverse: the outbox relay, the
 * 'inventory' consumer of order events, and the reservation expiry sweeper.
 * Without, it serves stock levels only.
 */
export function inventorySubgraph(store: StockStore, events?: InventoryEventWiring): InventorySubgraph {
  const inventory = new InventoryService(store);
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
  ];
  return { ...definition, reservations, relay, workers };
}

export async function createInventorySubgraph(deps: SubgraphDeps) {
  return inventorySubgraph(await openInventoryStore(deps), { ...deps, sweepIntervalMs: deps.config.RESERVATION_SWEEP_MS });
}
