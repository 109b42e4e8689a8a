import path from 'node:path';
import { and, asc, eq, inArray, sql, type Placeholder } from 'drizzle-orm';
import { compiledStatement, placeholder, type Database, type Db } from '../../../platform/db';
import { enqueueEvents, markProcessed, outboxInsertOf, outboxValues, processedInsertOf, type OutboxValues } from '../../../platform/outbox';
import type {
  NewPayment,
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
 * accept-payment-intent: the message and the intent in one statement; the token is kept only
 * while the order has neither a closure nor a payment. The order's lock, taken before it,
 * makes that look current.
 */
const acceptIntentStatement = compiledStatement<AcceptIntentValues>(() => {
  const p = placeholder<AcceptIntentValues>;
  return sql`-- name: accept-payment-intent
    with processed as (
      ${processedInsertOf(PAYMENT_EVENT_TABLES)}
    ), saved as (
      insert into ${paymentIntents} (order_id, customer_id, amount, currency, token)
      select ${p('orderId')}::text, ${p('customerId')}::text, ${p('amount')}::int, ${p('currency')}::char(3),
        case
          when exists (select 1 from ${orderClosures} where order_id = ${p('orderId')}::text) then null
          when exists (select 1 from ${payments} where order_id = ${p('orderId')}::text) then null
          else ${p('token')}::text
        end
      from processed
      on conflict (order_id) do nothing
    )
    select count(*)::int as processed from processed`;
});

/** The message, the payment (its times as ISO text) and the events the decision announces. */
type RecordDecisionValues = OutboxValues &
  Omit<PaymentRecord, 'createdAt' | 'updatedAt'> & { consumer: string; messageId: string; createdAt: string; updatedAt: string };

/**
 * record-authorization-decision: everything a decision changes, in one statement, only while
 * the order is open and undecided and only the first time the message comes; run under the
 * order's lock. The announcement is written only with the payment.
 */
const recordDecisionStatement = compiledStatement<RecordDecisionValues>(() => {
  const p = placeholder<RecordDecisionValues>;
  return sql`-- name: record-authorization-decision
    with open as (
      select 1 where not exists (select 1 from ${payments} where order_id = ${p('orderId')}::text)
        and not exists (select 1 from ${orderClosures} where order_id = ${p('orderId')}::text)
    ), processed as (
      insert into ${processedMessages} (consumer, message_id) select ${p('consumer')}::text, ${p('messageId')}::text from open
      on conflict do nothing
      returning 1
    ), created as (
      insert into ${payments} (id, order_id, customer_id, status, amount, captured_amount, refunded_amount, currency,
        method_brand, method_last4, failure_code, provider_reference, created_at, updated_at)
      select ${p('id')}::text, ${p('orderId')}::text, ${p('customerId')}::text, ${p('status')}::text, ${p('amount')}::int,
        ${p('capturedAmount')}::int, ${p('refundedAmount')}::int, ${p('currency')}::char(3), ${p('methodBrand')}::text,
        ${p('methodLast4')}::char(4), ${p('failureCode')}::text, ${p('providerReference')}::text,
        ${p('createdAt')}::timestamptz, ${p('updatedAt')}::timestamptz
      from processed
      on conflict (order_id) do nothing
      returning 1
    ), forgotten as (
      update ${paymentIntents} set token = null where order_id = ${p('orderId')}::text and exists (select 1 from created)
    ), announced as (
      ${outboxInsertOf(PAYMENT_EVENT_TABLES, sql`exists (select 1 from created)`)}
    )
    select (select count(*) from open)::int as open, (select count(*) from processed)::int as processed,
      (select count(*) from created)::int as created`;
});

function orderTransaction(tx: Db, orderId: string): OrderPaymentTransaction {
  const forgetToken = async () => {
    await tx.update(paymentIntents).set({ token: null }).where(eq(paymentIntents.orderId, orderId));
  };
  return {
    state: () => orderPaymentState(tx, orderId),
    markProcessed: (consumer, messageId) => markProcessed(tx, PAYMENT_EVENT_TABLES, consumer, messageId),
    async acceptIntent(consumer, messageId, intent) {
      if (intent.orderId !== orderId) throw new Error(`intent of order ${intent.orderId} saved in a transaction of order ${orderId}`);
      const [row] = await acceptIntentStatement<{ processed: number }>(tx, {
        consumer,
        messageId,
        orderId,
        customerId: intent.customerId,
        amount: intent.amount,
        currency: intent.currency,
        token: intent.token,
      });
      return (row?.processed ?? 0) > 0;
    },
    async recordDecision(consumer, messageId, payment, events) {
      if (payment.orderId !== orderId) throw new Error(`payment of order ${payment.orderId} created in a transaction of order ${orderId}`);
      const p = withTimestamps(payment);
      const [row] = await recordDecisionStatement<{ open: number; processed: number; created: number }>(tx, {
        ...outboxValues(events),
        ...p,
        consumer,
        messageId,
        createdAt: p.createdAt.toISOString(),
        updatedAt: p.updatedAt.toISOString(),
      });
      if (!row?.open) return 'settled';
      if (!row.processed) return 'duplicate';
      // Only a payment written without the order's lock could get here; rolling back lets the redelivery see it.
      if (!row.created) throw new Error(`payment of order ${orderId} appeared while its decision was recorded`);
      return 'recorded';
    },
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
