import { sql } from 'drizzle-orm';
import { char, check, index, integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { eventTables } from '../../../platform/outbox';
import { PAYMENT_STATUSES, type ClosureReason, type PaymentStatus } from './port';

const SETTLEMENT_FAILED = `'CAPTURE_FAILED', 'VOID_FAILED', 'REFUND_FAILED'`;

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
    // Never more card data than the brand and the last four digits; absent when the
    // processor failed or declined before it identified the card.
    methodBrand: text('method_brand'),
    methodLast4: char('method_last4', { length: 4 }),
    /** Why a DECLINED or FAILED payment did not go through, in the processor's words (card_declined). */
    failureCode: text('failure_code'),
    /** The payment provider's id of this payment, once it has one. */
    providerReference: text('provider_reference'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('payments_customer_idx').on(t.customerId),
    // Admins look for payments whose money the processor would not move.
    index('payments_needing_attention_idx').on(t.updatedAt).where(sql.raw(`status in (${SETTLEMENT_FAILED})`)),
    check('payments_status_known', sql.raw(`status in (${PAYMENT_STATUSES.map((s) => `'${s}'`).join(', ')})`)),
    // Money moved only on a card the processor identified; only a payment that did not go through has a failure code.
    check(
      'payments_method_when_authorized',
      sql.raw(`status in ('DECLINED', 'FAILED') or (method_brand is not null and method_last4 is not null)`),
    ),
    check('payments_failure_code_when_failed', sql.raw(`failure_code is null or status in ('DECLINED', 'FAILED', ${SETTLEMENT_FAILED})`)),
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

/**
 * What payment keeps from OrderPlaced until stock is reserved: who pays, how much, and the
 * processor token to charge. The token is forgotten once the payment is decided or the order closed.
 */
export const paymentIntents = payment.table(
  'payment_intents',
  {
    orderId: text('order_id').primaryKey(),
    customerId: text('customer_id').notNull(),
    amount: integer('amount').notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    token: text('token'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('payment_intents_amount_non_negative', sql.raw('amount >= 0')),
    check('payment_intents_currency_iso', sql.raw(`currency ~ '^[A-Z]{3}$'`)),
  ],
);

/**
 * Orders cancelled or rejected, whenever that news arrived: a reservation that arrives
 * later must not be authorized, and an authorization that raced the news is voided.
 */
export const orderClosures = payment.table(
  'order_closures',
  {
    orderId: text('order_id').primaryKey(),
    reason: text('reason').$type<ClosureReason>().notNull(),
    closedAt: timestamp('closed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  () => [check('order_closures_reason_known', sql.raw(`reason in ('CANCELLED', 'REJECTED')`))],
);

export const { outbox, processedMessages } = eventTables(payment);
