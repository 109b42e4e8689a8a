import { sql } from 'drizzle-orm';
import { boolean, check, foreignKey, index, integer, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { eventTables } from '../../../platform/outbox';
import { RESERVATION_STATUSES } from './port';

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

/**
 * One row per order inventory has heard of. RESERVED holds stock; RELEASED, SHIPPED and
 * EXPIRED are final. The row is also the per-order lock point: OrderPlaced and a release
 * event of the same order both insert on `order_id`, so they serialise on it.
 */
export const reservations = inventory.table(
  'reservations',
  {
    orderId: text('order_id').primaryKey(),
    status: text('status', { enum: RESERVATION_STATUSES }).notNull(),
    /** After this an unpaid (unconfirmed) reservation is released by the sweeper. */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    /** When OrderConfirmed arrived: the order is paid and its reservation never expires. */
    confirmedAt: timestamp('confirmed_at', { withTimezone: true }),
    /**
     * The order was cancelled, rejected or failed payment before its OrderPlaced reached
     * inventory. Such a row is RELEASED with no lines, and a late OrderPlaced reserves nothing.
     */
    closedBeforePlaced: boolean('closed_before_placed').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('reservations_status_known', sql.raw(`status in ('RESERVED', 'RELEASED', 'SHIPPED', 'EXPIRED')`)),
    check('reservations_closed_before_placed_is_released', sql.raw(`not closed_before_placed or status = 'RELEASED'`)),
    // What the sweeper scans: live, unpaid reservations by expiry.
    index('reservations_due_idx').on(t.expiresAt).where(sql.raw(`status = 'RESERVED' and confirmed_at is null`)),
  ],
);

/** Units of one product an order holds in one warehouse. */
export const reservationLines = inventory.table(
  'reservation_lines',
  {
    orderId: text('order_id')
      .notNull()
      .references(() => reservations.orderId, { onDelete: 'cascade' }),
    productId: text('product_id').notNull(),
    warehouseId: text('warehouse_id').notNull(),
    quantity: integer('quantity').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.orderId, t.productId, t.warehouseId] }),
    foreignKey({
      name: 'reservation_lines_stock_level_fk',
      columns: [t.productId, t.warehouseId],
      foreignColumns: [stockLevels.productId, stockLevels.warehouseId],
    }),
    check('reservation_lines_quantity_positive', sql.raw('quantity > 0')),
  ],
);

export const { outbox, processedMessages } = eventTables(inventory);
