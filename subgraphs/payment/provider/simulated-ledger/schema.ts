import { sql } from 'drizzle-orm';
import { bigint, boolean, char, check, index, integer, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The simulated card processor's own storage, as an external processor keeps its own:
 * a schema beside payment's (in the payment database) that the payment domain never
 * reads. It outlives a restart of the payment subgraph, as a real processor's ledger does.
 */
export const cardProcessor = pgSchema('card_processor');

/** Amounts held on cards, and what became of them. Minor units of `currency`. */
export const charges = cardProcessor.table(
  'charges',
  {
    reference: text('reference').primaryKey(),
    currency: char('currency', { length: 3 }).notNull(),
    authorized: integer('authorized').notNull(),
    captured: integer('captured').notNull().default(0),
    refunded: integer('refunded').notNull().default(0),
    voided: boolean('voided').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  () => [
    check('charges_captured_within_authorized', sql.raw('captured >= 0 and captured <= authorized')),
    check('charges_refunded_within_captured', sql.raw('refunded >= 0 and refunded <= captured')),
    check('charges_voided_uncaptured', sql.raw('not voided or captured = 0')),
  ],
);

/**
 * One row per idempotency key: the request it was first used for (a fingerprint, no token
 * in the clear), the calls that reached the processor, and the answer once there is one.
 * A transient failure leaves `answer` null, so a retry with the same key tries again.
 */
export const requests = cardProcessor.table('requests', {
  idempotencyKey: text('idempotency_key').primaryKey(),
  fingerprint: text('fingerprint').notNull(),
  attempts: integer('attempts').notNull().default(0),
  answer: jsonb('answer'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  answeredAt: timestamp('answered_at', { withTimezone: true }),
});

/** Everything the processor did, in order; replays of an idempotency key add nothing. */
export const ledger = cardProcessor.table(
  'ledger',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    operation: text('operation').$type<'authorize' | 'capture' | 'void' | 'refund'>().notNull(),
    outcome: text('outcome').$type<'approved' | 'declined'>().notNull(),
    reference: text('reference'),
    amount: integer('amount'),
    currency: char('currency', { length: 3 }),
    idempotencyKey: text('idempotency_key').notNull(),
    declineCode: text('decline_code'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('ledger_idempotency_key_idx').on(t.idempotencyKey),
    check('ledger_operation_known', sql.raw(`operation in ('authorize', 'capture', 'void', 'refund')`)),
    check('ledger_outcome_known', sql.raw(`outcome in ('approved', 'declined')`)),
  ],
);
