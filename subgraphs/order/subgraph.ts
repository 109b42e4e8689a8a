import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { OrderContext } from './context';
import { OrderService } from './order-service';
import { resolvers } from './resolvers';
import { seedOrders } from './seed';
import type { OrderStore } from './store/port';
import { ORDER_MIGRATIONS, ORDER_SCHEMA, postgresOrderStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/** Opens the order store: PostgreSQL at ORDER_DATABASE_URL, or embedded PGlite. */
export async function openOrderStore(deps: SubgraphDeps): Promise<OrderStore> {
  return postgresOrderStore(
    await openSubgraphDatabase(deps, 'order', { schema: ORDER_SCHEMA, migrationsFolder: ORDER_MIGRATIONS }),
  );
}

/** The order subgraph on a given store; `service` is what seeding and event handlers call. */
export function orderSubgraph(
  store: OrderStore,
  deps: Pick<SubgraphDeps, 'logger'>,
): SubgraphDefinition<OrderContext> & { service: OrderService } {
  const orders = new OrderService(store, deps.logger.child({ component: 'order-service' }));
  return {
    name: 'order',
    typeDefs,
    resolvers,
    service: orders,
    stores: [store],
    context: (base) => ({ ...base, orders, loaders: orders.loaders() }),
    seed: ({ shop }) => seedOrders(orders, shop),
  };
}

export async function createOrderSubgraph(deps: SubgraphDeps) {
  return orderSubgraph(await openOrderStore(deps), deps);
}
