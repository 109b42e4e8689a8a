import path from 'node:path';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/db';
import type { BelowReserved, StockLevelRecord, StockStore, WarehouseRecord } from './port';
import { stockLevels, warehouses } from './schema';

export const INVENTORY_SCHEMA = 'inventory';
export const INVENTORY_MIGRATIONS = path.join(__dirname, 'migrations');

/** Inventory on PostgreSQL, the same code on PGlite and on a server. */
export function postgresStockStore(database: Database): StockStore {
  const { db } = database;
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,

    async listWarehouses() {
      return db.select().from(warehouses).orderBy(asc(warehouses.code));
    },

    async warehousesByIds(ids) {
      if (ids.length === 0) return [];
      return db.select().from(warehouses).where(inArray(warehouses.id, [...ids]));
    },

    async stockLevelsFor(productIds) {
      if (productIds.length === 0) return [];
      return db
        .select()
        .from(stockLevels)
        .where(inArray(stockLevels.productId, [...productIds]))
        .orderBy(asc(stockLevels.productId), asc(stockLevels.warehouseId));
    },

    async setOnHand(productId, warehouseId, onHand): Promise<StockLevelRecord | BelowReserved> {
      // set-stock: one statement, so a concurrent reservation cannot slip between check and write.
      const [row] = await db
        .insert(stockLevels)
        .values({ productId, warehouseId, onHand, reserved: 0 })
        .onConflictDoUpdate({
          target: [stockLevels.productId, stockLevels.warehouseId],
          set: { onHand, updatedAt: sql`now()` },
          setWhere: sql`${stockLevels.reserved} <= ${onHand}`,
        })
        .returning();
      if (row) return row;
      const [current] = await db
        .select({ reserved: stockLevels.reserved })
        .from(stockLevels)
        .where(and(eq(stockLevels.productId, productId), eq(stockLevels.warehouseId, warehouseId)));
      return { kind: 'below-reserved', reserved: current?.reserved ?? 0 };
    },

    async addWarehouses(list) {
      if (list.length === 0) return;
      await db.insert(warehouses).values([...list]).onConflictDoNothing();
    },

    async setOnHandMany(levels) {
      const chunk = 1000;
      for (let i = 0; i < levels.length; i += chunk) {
        await db
          .insert(stockLevels)
          .values(levels.slice(i, i + chunk).map((l) => ({ ...l, reserved: 0 })))
          .onConflictDoUpdate({
            target: [stockLevels.productId, stockLevels.warehouseId],
            set: { onHand: sql`excluded.on_hand`, updatedAt: sql`now()` },
          });
      }
    },
  };
}
