import { sql } from 'drizzle-orm';
import { check, index, integer, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/** Inventory owns this schema; no other subgraph reads it. */
export const inventory = pgSchema('inventory');

export const warehouses = inventory.table('warehouses', {
  id: text('id').primaryKey(),
  code: text('code').notNull().unique(),
  name: text('name').notNull(),
  city: text('city').notNull(),
  country: text('country').notNull(),
});

export const stockLevels = inventory.table(
  'stock_levels',
  {
    productId: text('product_id').notNull(),
    warehouseId: text('warehouse_id')
      .notNull()
      .references(() => warehouses.id),
    onHand: integer('on_hand').notNull().default(0),
    reserved: integer('reserved').notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.productId, t.warehouseId] }),
    index('stock_levels_warehouse_idx').on(t.warehouseId),
    // The stock invariant, held by the database whatever the code does:
    // available = on_hand - reserved is never negative.
    check('stock_levels_on_hand_non_negative', sql.raw('on_hand >= 0')),
    check('stock_levels_reserved_non_negative', sql.raw('reserved >= 0')),
    check('stock_levels_reserved_within_on_hand', sql.raw('reserved <= on_hand')),
  ],
);
