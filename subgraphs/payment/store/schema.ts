import { sql } from 'drizzle-orm';
import { char, check, index, integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import type { PaymentStatus } from './port';

/** Payment owns this schema (in production a database of its own); no other subgraph reads it. */
export const payment = pgSchema('payment');

export const payments = payment.table(
  'payments',
  {
    id: text('id').primaryKey(),
    // One payment per order: a retried authorization finds the payment it already made.
    orderId: text('order_id').notNull().unique(),
    customerId: text('customer_id').notNull(),
    status: text('status').$type<PaymentStatus>().notNull(),
    /** Authorized amount, minor units of `currency`. */
    amount: integer('amount').notNull(),
    capturedAmount: integer('captured_amount').notNull().default(0),
    refundedAmount: integer('refunded_amount').notNull().default(0),
    currency: char('currency', { length: 3 }).notNull(),
    // Never more card data than the brand and the last four digits.
    methodBrand: text('method_brand').notNull(),
    methodLast4: char('method_last4', { length: 4 }).notNull(),
    /** The payment provider's id of this payment, once it has one. */
    providerReference: text('provider_reference'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('payments_customer_idx').on(t.customerId),
    check('payments_status_known', sql.raw(`status in ('AUTHORIZED', 'CAPTURED', 'DECLINED', 'VOIDED', 'REFUNDED')`)),
    // The money invariants, held by the database whatever the code does:
    // nothing negative, never more captured than authorized, never more refunded than captured.
    check('payments_amount_non_negative', sql.raw('amount >= 0')),
    check('payments_captured_non_negative', sql.raw('captured_amount >= 0')),
    check('payments_captured_within_amount', sql.raw('captured_amount <= amount')),
    check('payments_refunded_non_negative', sql.raw('refunded_amount >= 0')),
    check('payments_refunded_within_captured', sql.raw('refunded_amount <= captured_amount')),
    check('payments_currency_iso', sql.raw(`currency ~ '^[A-Z]{3}$'`)),
    check('payments_last4_digits', sql.raw(`method_last4 ~ '^[0-9]{4}$'`)),
  ],
);
