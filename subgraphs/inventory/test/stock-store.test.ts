import { openSubgraphDatabase } from '../../../platform/subgraph';
import { genericPlan, storeBackends, testDeps } from '../../../platform/testing';
import { INVENTORY_MIGRATIONS, INVENTORY_SCHEMA, confirmReservationStatement } from '../store/postgres';
import { openInventoryStore } from '../subgraph';
import { stockStoreContract } from './stock-store.contract';

describe.each(storeBackends())('StockStore on %s', (backend) => {
  stockStoreContract(async () => {
    const deps = await testDeps(backend, ['inventory']);
    const store = await openInventoryStore(deps);
    return {
      store,
      release: async () => {
        await store.close();
        await deps.release();
      },
    };
  });
});

describe.each(storeBackends())('Inventory statements on %s', (backend) => {
  it('confirm-reservation reads each reservation by key, even in a plan cached on a new shop\'s empty tables', async () => {
    // A connection keeps a generic plan until the tables are analyzed; a new shop's first one is made
    // on empty tables, and the tables grow under it.
    const deps = await testDeps(backend, ['inventory']);
    const database = await openSubgraphDatabase(deps, 'inventory', { schema: INVENTORY_SCHEMA, migrationsFolder: INVENTORY_MIGRATIONS });
    try {
      const plan = await genericPlan(database, confirmReservationStatement.text(database.db));
      expect(plan).toMatch(/Index Scan using reservations_pkey on reservations/);
      expect(plan).not.toMatch(/Seq Scan on reservations/);
    } finally {
      await database.close();
      await deps.release();
    }
  });
});
