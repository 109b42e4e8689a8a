import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { processedMessagesTable } from '../../../platform/outbox';

/** Recommendation owns this schema; no other subgraph reads it. */
export const recommendation = pgSchema('recommendation');

/** How many orders held both products; each pair is stored both ways so one product's row range answers "bought together". */
export const coPurchases = recommendation.table(
  'co_purchases',
  {
    productId: text('product_id').notNull(),
    otherProductId: text('other_product_id').notNull(),
    weight: integer('weight').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.productId, t.otherProductId] }),
    check('co_purchases_weight_positive', sql.raw('weight > 0')),
    check('co_purchases_distinct_products', sql.raw('product_id <> other_product_id')),
  ],
);

/** How many of a customer's orders held a product: what they already have, and where their recommendations start. */
export const customerPurchases = recommendation.table(
  'customer_purchases',
  {
    customerId: text('customer_id').notNull(),
    productId: text('product_id').notNull(),
    quantity: integer('quantity').notNull(),
  },
  (t) => [primaryKey({ columns: [t.customerId, t.productId] }), check('customer_purchases_quantity_positive', sql.raw('quantity > 0'))],
);

/** The events recommendation's consumer has processed (it announces none: no outbox). */
export const processedMessages = processedMessagesTable(recommendation);

/**
 * Orders recommendation has heard of: OrderPlaced says who bought what, OrderConfirmed says it
 * counts. Either may arrive first; `recorded` makes the purchase count once, however often
 * either comes again. A row is kept as long as a processed message (`noted_at`, its last change).
 */
export const orderEvents = recommendation.table(
  'order_events',
  {
    orderId: text('order_id').primaryKey(),
    /** Null until OrderPlaced arrives. */
    customerId: text('customer_id'),
    productIds: text('product_ids').array(),
    confirmed: boolean('confirmed').notNull().default(false),
    recorded: boolean('recorded').notNull().default(false),
    notedAt: timestamp('noted_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('order_events_noted_at_idx').on(t.notedAt)],
);
