import { sql } from 'drizzle-orm';
import { char, check, index, integer, jsonb, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import type { Address } from '../../../platform/address';
import { eventTables } from '../../../platform/outbox';
import { ORDER_FAILURE_REASONS, ORDER_STATUSES } from '../order-lifecycle';

/** The order subgraph owns this schema; no other subgraph reads it. */
export const ordersSchema = pgSchema('orders');

/** Where an order goes, as the customer gave it when ordering; kept with the order so later edits to the address book do not change it. */
export type ShippingAddressRecord = Address;

const quoted = (names: readonly string[]) => names.map((name) => `'${name}'`).join(', ');
const knownStatuses = quoted(ORDER_STATUSES);
const knownFailureReasons = quoted(ORDER_FAILURE_REASONS);

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
    /** Why the order ended unfulfilled; null while it is not a failure. */
    failureReason: text('failure_reason', { enum: ORDER_FAILURE_REASONS }),
    placedAt: timestamp('placed_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // A customer's order history, newest first, is read page by page from this index alone.
    index('orders_customer_placed_idx').on(t.customerId, t.placedAt.desc(), t.id.desc()),
    check('orders_total_amount_non_negative', sql.raw('total_amount >= 0')),
    check('orders_status_known', sql.raw(`status in (${knownStatuses})`)),
    check('orders_failure_reason_known', sql.raw(`failure_reason is null or failure_reason in (${knownFailureReasons})`)),
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

/** One cart per customer; its row is what cart changes and checkout lock, so they take turns. */
export const carts = ordersSchema.table('carts', {
  customerId: text('customer_id').primaryKey(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  /**
   * Counts the changes of the cart's lines: every change raises it under the cart's lock, so a
   * statement that finds the number it read still there when it takes the lock knows the lines
   * it read are the cart as it is.
   */
  version: integer('version').notNull().default(0),
});

export const cartLines = ordersSchema.table(
  'cart_lines',
  {
    customerId: text('customer_id')
      .notNull()
      .references(() => carts.customerId, { onDelete: 'cascade' }),
    productId: text('product_id').notNull(),
    quantity: integer('quantity').notNull(),
    /** Lines are shown in the order they were first added. */
    addedAt: timestamp('added_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.customerId, t.productId] }),
    check('cart_lines_quantity_range', sql.raw('quantity between 1 and 99')),
  ],
);

/**
 * The checkouts a customer has made, by the idempotency key their client sent: a retry of
 * the same request finds its order here. `order_id` has no foreign key because this row is
 * written first in the checkout transaction, so a concurrent retry waits on the key before
 * doing any other work; the order is written in the same transaction.
 */
export const idempotencyKeys = ordersSchema.table(
  'idempotency_keys',
  {
    customerId: text('customer_id').notNull(),
    key: text('key').notNull(),
    /** sha256 of the canonical request: key, address, payment token and cart contents. */
    requestHash: text('request_hash').notNull(),
    orderId: text('order_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.customerId, t.key] }),
    check('idempotency_keys_key_length', sql.raw('char_length(key) between 1 and 200')),
  ],
);

export const { outbox, processedMessages } = eventTables(ordersSchema);
