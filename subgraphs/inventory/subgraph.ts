import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { InventoryContext } from './context';
import { InventoryService } from './inventory-service';
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

/** The inventory subgraph on a given store; `service` is what seeding and event handlers call. */
export function inventorySubgraph(store: StockStore): SubgraphDefinition<InventoryContext> & { service: InventoryService } {
  const inventory = new InventoryService(store);
  return {
    name: 'inventory',
    service: inventory,
    typeDefs,
    resolvers,
    stores: [store],
    context: (base) => ({ ...base, inventory, loaders: inventory.loaders() }),
    seed: ({ shop }) => seedInventory(inventory, shop),
  };
}

export async function createInventorySubgraph(deps: SubgraphDeps) {
  return inventorySubgraph(await openInventoryStore(deps));
}
