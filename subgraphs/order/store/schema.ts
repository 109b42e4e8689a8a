import { sql } from 'drizzle-orm';
import { char, check, index, integer, jsonb, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { ORDER_STATUSES } from '../order-lifecycle';

/** The order subgraph owns this schema; no other subgraph reads it. */
export const ordersSchema = pgSchema('orders');

/** Where an order goes, as the customer gave it when ordering; kept with the order so later edits to the address book do not change it. */
export interface ShippingAddressRecord {
  line1: string;
  line2: string | null;
  city: string;
  region: string | null;
  postalCode: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
}

const knownStatuses = ORDER_STATUSES.map((status) => `'${status}'`).join(', ');

export const orders = ordersSchema.table(
  'orders',
  {
    id: text('id').primaryKey(),
    customerId: text('customer_id').notNull(),
    status: text('status', { enum: ORDER_STATUSES }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    /** Sum of the lines in minor units, computed by pricing when the order is written. */
    totalAmount: integer('total_amount').notNull(),
    shippingAddress: jsonb('shipping_address').$type<ShippingAddressRecord>(),
    placedAt: timestamp('placed_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // A customer's order history, newest first, is read page by page from this index alone.
    index('orders_customer_placed_idx').on(t.customerId, t.placedAt.desc(), t.id.desc()),
    check('orders_total_amount_non_negative', sql.raw('total_amount >= 0')),
    check('orders_status_known', sql.raw(`status in (${knownStatuses})`)),
  ],
);

export const orderLines = ordersSchema.table(
  'order_lines',
  {
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    /** 1-based position of the line in its order. */
    lineNo: integer('line_no').notNull(),
    productId: text('product_id').notNull(),
    quantity: integer('quantity').notNull(),
    /** Catalog price of one unit when the order was placed, in minor units of the order's currency. */
    unitPriceAmount: integer('unit_price_amount').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.orderId, t.lineNo] }),
    check('order_lines_line_no_positive', sql.raw('line_no >= 1')),
    check('order_lines_quantity_range', sql.raw('quantity between 1 and 99')),
    check('order_lines_unit_price_non_negative', sql.raw('unit_price_amount >= 0')),
  ],
);
