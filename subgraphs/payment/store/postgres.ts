import path from 'node:path';
import { and, asc, eq, inArray, sql, type Placeholder, type SQL } from 'drizzle-orm';
import { compiledStatement, placeholder, type Database, type Db } from '../../../platform/db';
import type { EventEnvelope } from '../../../platform/events';
import { enqueueEvents, markProcessed, outboxValues, type OutboxValues } from '../../../platform/outbox';
import type {
  DecisionRecord,
  NewPayment,
  NewPaymentIntent,
  OrderPaymentState,
  OrderPaymentTransaction,
  PaymentChange,
  PaymentRecord,
  PaymentStatus,
  PaymentStore,
  StatusConflict,
} from './port';
import { orderClosures, outbox, paymentIntents, payments, processedMessages } from './schema';

export const PAYMENT_SCHEMA = 'payment';
export const PAYMENT_MIGRATIONS = path.join(__dirname, 'migrations');

/** Payment's outbox and processed-message tables, for the relay and the consumer. */
export const PAYMENT_EVENT_TABLES = { outbox, processedMessages };

/** Rows per import statement; each column travels as one array parameter, so only memory bounds it. */
const IMPORT_CHUNK = 5000;

/** Rows a raw statement returned, whichever driver ran it. */
function rowCount(result: unknown): number {
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows).length;
}

/** A new payment was last changed when it was made. */
function withTimestamps(payment: NewPayment) {
  const at = payment.createdAt ?? new Date();
  return { ...payment, failureCode: payment.failureCode ?? null, createdAt: at, updatedAt: at };
}

async function createPayment(db: Db, payment: NewPayment): Promise<{ payment: PaymentRecord; created: boolean }> {
  const [row] = await db.insert(payments).values(withTimestamps(payment)).onConflictDoNothing({ target: payments.orderId }).returning();
  if (row) return { payment: row, created: true };
  const [existing] = await db.select().from(payments).where(eq(payments.orderId, payment.orderId));
  if (!existing) throw new Error(`payment for order ${payment.orderId} was neither written nor found`);
  return { payment: existing, created: false };
}

async function updatePayment(db: Db, id: string, expected: PaymentStatus, change: PaymentChange): Promise<PaymentRecord | StatusConflict> {
  // update-payment-status: check and write in one statement, so a concurrent change cannot slip between them.
  const [row] = await db
    .update(payments)
    .set({
      status: change.status,
      ...(change.capturedAmount !== undefined ? { capturedAmount: change.capturedAmount } : {}),
      ...(change.refundedAmount !== undefined ? { refundedAmount: change.refundedAmount } : {}),
      ...(change.providerReference !== undefined ? { providerReference: change.providerReference } : {}),
      ...(change.failureCode !== undefined ? { failureCode: change.failureCode } : {}),
      updatedAt: sql`now()`,
    })
    .where(and(eq(payments.id, id), eq(payments.status, expected)))
    .returning();
  if (row) return row;
  const [current] = await db.select({ status: payments.status }).from(payments).where(eq(payments.id, id));
  return { kind: 'status-conflict', current: current?.status ?? null };
}

/** The query of an order's intent, payment and closure, for an order id or a placeholder of one. */
function orderPaymentStateQuery(db: Db, orderId: string | Placeholder) {
  // order-payment-state: one row whatever exists, each of the three tables joined by the order id.
  return db
    .select({ intent: paymentIntents, payment: payments, closure: orderClosures })
    .from(sql`(select 1) as "order_state"`)
    .leftJoin(paymentIntents, eq(paymentIntents.orderId, orderId))
    .leftJoin(payments, eq(payments.orderId, orderId))
    .leftJoin(orderClosures, eq(orderClosures.orderId, orderId));
}

type OrderStateRow = Awaited<ReturnType<typeof orderPaymentStateQuery>>[number];

function orderPaymentStateOf(row: OrderStateRow | undefined): OrderPaymentState {
  return { intent: row?.intent ?? null, payment: row?.payment ?? null, closure: row?.closure ?? null };
}

/** An order's intent, payment and closure in one statement. */
async function orderPaymentState(db: Db, orderId: string): Promise<OrderPaymentState> {
  const [row] = await orderPaymentStateQuery(db, orderId);
  return orderPaymentStateOf(row);
}

type AcceptIntentValues = {
  consumer: string;
  messageId: string;
  orderId: string;
  customerId: string;
  amount: number;
  currency: string;
  token: string | null;
};

/**
 * accept-payment-intent: the message and the intent; the token is kept only while the order
 * has neither a closure nor a payment. One statement that takes the order's lock before it
 * reads (migration 0004_locked_steps), a transaction of its own.
 */
const acceptIntentStatement = compiledStatement<AcceptIntentValues>(() => {
  const p = placeholder<AcceptIntentValues>;
  return sql`-- name: accept-payment-intent
    select ${paymentSchemaFunction('accept_payment_intent')}(${p('consumer')}::text, ${p('messageId')}::text, ${p('orderId')}::text,
      ${p('customerId')}::text, ${p('amount')}::int, ${p('currency')}::char(3), ${p('token')}::text) as accepted`;
});

/** The message, the payment (its times as ISO text) and the events the decision announces. */
type RecordDecisionValues = OutboxValues &
  Omit<PaymentRecord, 'createdAt' | 'updatedAt'> & { consumer: string; messageId: string; createdAt: string; updatedAt: string };

/**
 * record-authorization-decision: everything a decision changes, only while the order is open
 * and undecided and only the first time the message comes; the announcement is written only
 * with the payment. One statement that takes the order's lock before it reads (migration
 * 0004_locked_steps), a transaction of its own.
 */
const recordDecisionStatement = compiledStatement<RecordDecisionValues>(() => {
  const p = placeholder<RecordDecisionValues>;
  return sql`-- name: record-authorization-decision
    select was_open, was_new, was_created from ${paymentSchemaFunction('record_authorization_decision')}(
      ${p('consumer')}::text, ${p('messageId')}::text,
      ${p('id')}::text, ${p('orderId')}::text, ${p('customerId')}::text, ${p('status')}::text, ${p('amount')}::int,
      ${p('capturedAmount')}::int, ${p('refundedAmount')}::int, ${p('currency')}::char(3), ${p('methodBrand')}::text,
      ${p('methodLast4')}::char(4), ${p('failureCode')}::text, ${p('providerReference')}::text,
      ${p('createdAt')}::timestamptz, ${p('updatedAt')}::timestamptz,
      ${p('eventIds')}::text[], ${p('eventTypes')}::text[], ${p('eventAggregateIds')}::text[], ${p('eventOccurredAts')}::text[],
      ${p('eventPayloads')}::text[], ${p('eventRequestIds')}::text[])`;
});

/** A function of the store's schema, by name. */
function paymentSchemaFunction(name: string): SQL {
  return sql`${sql.identifier(PAYMENT_SCHEMA)}.${sql.identifier(name)}`;
}

async function acceptIntent(db: Db, consumer: string, messageId: string, intent: NewPaymentIntent): Promise<boolean> {
  const [row] = await acceptIntentStatement<{ accepted: boolean }>(db, {
    consumer,
    messageId,
    orderId: intent.orderId,
    customerId: intent.customerId,
    amount: intent.amount,
    currency: intent.currency,
    token: intent.token,
  });
  return row?.accepted === true;
}

async function recordDecision(db: Db, consumer: string, messageId: string, payment: NewPayment, events: readonly EventEnvelope[]): Promise<DecisionRecord> {
  const p = withTimestamps(payment);
  const [row] = await recordDecisionStatement<{ was_open: boolean; was_new: boolean; was_created: boolean }>(db, {
    ...outboxValues(events),
    ...p,
    consumer,
    messageId,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  });
  if (!row?.was_open) return 'settled';
  if (!row.was_new) return 'duplicate';
  // A new message whose payment could not be written fails the statement instead (see the migration).
  return 'recorded';
}

function orderTransaction(tx: Db, orderId: string): OrderPaymentTransaction {
  const forgetToken = async () => {
    await tx.update(paymentIntents).set({ token: null }).where(eq(paymentIntents.orderId, orderId));
  };
  return {
    state: () => orderPaymentState(tx, orderId),
    markProcessed: (consumer, messageId) => markProcessed(tx, PAYMENT_EVENT_TABLES, consumer, messageId),
    async closeOrder(reason) {
      await tx.insert(orderClosures).values({ orderId, reason }).onConflictDoNothing({ target: orderClosures.orderId });
      await forgetToken();
    },
    forgetToken,
    createPayment: (payment) => {
      if (payment.orderId !== orderId) throw new Error(`payment of order ${payment.orderId} created in a transaction of order ${orderId}`);
      return createPayment(tx, payment);
    },
    updatePayment: (id, expected, change) => updatePayment(tx, id, expected, change),
    enqueue: (events) => enqueueEvents(tx, PAYMENT_EVENT_TABLES, events),
  };
}

/** Payments on PostgreSQL (the same code on PGlite and on a server), with the database the outbox relay reads. */
export interface PostgresPaymentStore extends PaymentStore {
  readonly database: Database;
}

/** Payments on PostgreSQL, the same code on PGlite and on a server. */
export function postgresPaymentStore(database: Database): PostgresPaymentStore {
  const { db } = database;
  // Every handler reads its order's state first: the statement is built once, not per event.
  const stateOfOrder = orderPaymentStateQuery(db, sql.placeholder('orderId')).prepare('order_payment_state');
  return {
    database,
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,

    async paymentsByIds(ids) {
      if (ids.length === 0) return [];
      return db.select().from(payments).where(inArray(payments.id, [...ids]));
    },

    async paymentsInStatuses(statuses, limit) {
      if (statuses.length === 0) return [];
      return db
        .select()
        .from(payments)
        .where(inArray(payments.status, [...statuses]))
        .orderBy(asc(payments.updatedAt))
        .limit(limit);
    },

    async countByStatus(statuses) {
      if (statuses.length === 0) return {};
      const rows = await db
        .select({ status: payments.status, count: sql<number>`count(*)::int` })
        .from(payments)
        .where(inArray(payments.status, [...statuses]))
        .groupBy(payments.status);
      return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
    },

    async paymentsByOrderIds(orderIds) {
      if (orderIds.length === 0) return [];
      return db.select().from(payments).where(inArray(payments.orderId, [...orderIds]));
    },

    createPayment: (payment) => createPayment(db, payment),
    updatePayment: (id, expected, change) => updatePayment(db, id, expected, change),
    orderPaymentState: async (orderId) => orderPaymentStateOf((await stateOfOrder.execute({ orderId }))[0]),
    acceptIntent: (consumer, messageId, intent) => acceptIntent(db, consumer, messageId, intent),
    recordDecision: (consumer, messageId, payment, events) => recordDecision(db, consumer, messageId, payment, events),

    inOrderTransaction(orderId, work) {
      return db.transaction(async (tx) => {
        // lock-order-payment: handlers of one order take turns until commit; a hash collision only
        // makes two unrelated orders wait for each other briefly. Sent without waiting for its
        // answer, so the first statement of `work` goes out in the same write: the server runs
        // it only once the lock is held, with a snapshot taken then. Should the lock fail, that
        // statement fails with it and the transaction rolls back.
        const locked = tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`payment:${orderId}`}, 0))`).then(() => undefined);
        locked.catch(() => {});
        const result = await work(orderTransaction(tx, orderId));
        await locked;
        return result;
      });
    },

    async importPayments(list: readonly NewPayment[]) {
      if (list.length === 0) return 0;
      return db.transaction(async (tx) => {
        let added = 0;
        for (let i = 0; i < list.length; i += IMPORT_CHUNK) {
          const rows = list.slice(i, i + IMPORT_CHUNK).map(withTimestamps);
          const column = <T>(pick: (row: (typeof rows)[number]) => T) => sql.param(rows.map(pick));
          // One array parameter per column keeps the statement small whatever the chunk size. Times travel
          // as text: the postgres-js driver cannot serialize a timestamptz[] parameter.
          const inserted = await tx.execute(sql`
            -- name: import-payments
            insert into ${payments} (id, order_id, customer_id, status, amount, captured_amount, refunded_amount,
              currency, method_brand, method_last4, failure_code, provider_reference, created_at, updated_at)
            select * from unnest(
              ${column((r) => r.id)}::text[], ${column((r) => r.orderId)}::text[], ${column((r) => r.customerId)}::text[],
              ${column((r) => r.status)}::text[], ${column((r) => r.amount)}::int[], ${column((r) => r.capturedAmount)}::int[],
              ${column((r) => r.refundedAmount)}::int[], ${column((r) => r.currency)}::text[], ${column((r) => r.methodBrand)}::text[],
              ${column((r) => r.methodLast4)}::text[], ${column((r) => r.failureCode)}::text[], ${column((r) => r.providerReference)}::text[],
              ${column((r) => r.createdAt.toISOString())}::text[]::timestamptz[],
              ${column((r) => r.updatedAt.toISOString())}::text[]::timestamptz[])
            on conflict do nothing
            returning id`);
          added += rowCount(inserted);
        }
        return added;
      });
    },
  };
}
