import path from 'node:path';
import { and, asc, eq, getTableColumns, inArray, sql, type Placeholder, type SQL, type Table } from 'drizzle-orm';
import { coalesced } from '../../../platform/coalesce';
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

/** The columns of a subquery that selects a whole table, as an object to select. */
function columnsOf<T extends Table, S extends Record<keyof T['_']['columns'], unknown>>(
  subquery: S,
  table: T,
): { [K in keyof T['_']['columns']]: S[K] } {
  const keys = Object.keys(getTableColumns(table)) as (keyof T['_']['columns'])[];
  return Object.fromEntries(keys.map((key) => [key, subquery[key]])) as { [K in keyof T['_']['columns']]: S[K] };
}

/**
 * order-payment-states: the intent, payment and closure of each order, a row per order in
 * the order given. Each table is probed by the order id in a lateral subquery of its own
 * (`limit 1`: the key is unique), so the plan is an index lookup per order whatever the
 * planner knew of the tables when it cached the plan. Plain joins were planned, on a new
 * shop's empty tables, as hash joins over whole-table scans, and that plan stayed cached
 * while the tables grew, until their first analyze.
 */
export function orderPaymentStatesQuery(db: Db) {
  const orderId = sql`"order_state"."order_id"`;
  const intent = db.select().from(paymentIntents).where(eq(paymentIntents.orderId, orderId)).limit(1).as('intent');
  const payment = db.select().from(payments).where(eq(payments.orderId, orderId)).limit(1).as('payment');
  const closure = db.select().from(orderClosures).where(eq(orderClosures.orderId, orderId)).limit(1).as('closure');
  return db
    .select({
      ordinal: sql<number>`"order_state"."ordinal"::int`,
      intent: columnsOf(intent, paymentIntents),
      payment: columnsOf(payment, payments),
      closure: columnsOf(closure, orderClosures),
    })
    .from(sql`unnest(${sql.placeholder('orderIds')}::text[]) with ordinality as "order_state"("order_id", "ordinal")`)
    .leftJoinLateral(intent, sql`true`)
    .leftJoinLateral(payment, sql`true`)
    .leftJoinLateral(closure, sql`true`)
    .orderBy(sql`"order_state"."ordinal"`)
    .prepare('order_payment_states');
}

/** The intents of many orders, one array per field, an element per order. */
type AcceptIntentsValues = {
  consumers: string[];
  messageIds: string[];
  orderIds: string[];
  customerIds: string[];
  amounts: number[];
  currencies: string[];
  tokens: (string | null)[];
};

/**
 * accept-payment-intents: each intent accepted as accept-payment-intent (migration
 * 0004_locked_steps) accepts one, under its order's lock, the orders taken in order-id order
 * so that two such statements lock the orders they share in the same order. One statement,
 * a transaction of its own; answers a row per intent with its `ordinal`.
 */
const acceptIntentsStatement = compiledStatement<AcceptIntentsValues>(() => {
  const p = placeholder<AcceptIntentsValues>;
  // The sort is in a subquery the planner keeps: the function runs on its rows as they come out of it.
  return sql`-- name: accept-payment-intents
    select i.ordinal::int as ordinal,
      ${paymentSchemaFunction('accept_payment_intent')}(i.consumer, i.message_id, i.order_id, i.customer_id, i.amount, i.currency::char(3), i.token) as accepted
    from (
      select * from unnest(${p('consumers')}::text[], ${p('messageIds')}::text[], ${p('orderIds')}::text[], ${p('customerIds')}::text[],
          ${p('amounts')}::int[], ${p('currencies')}::text[], ${p('tokens')}::text[])
        with ordinality as i(consumer, message_id, order_id, customer_id, amount, currency, token, ordinal)
      order by order_id collate "C"
    ) as i`;
});

/** The decisions of many orders, one array per field, an element per order; their events flattened, each with the ordinal of its decision. */
type RecordDecisionsValues = OutboxValues & {
  eventOwners: number[];
  consumers: string[];
  messageIds: string[];
  ids: string[];
  orderIds: string[];
  customerIds: string[];
  statuses: string[];
  amounts: number[];
  capturedAmounts: number[];
  refundedAmounts: number[];
  currencies: string[];
  methodBrands: (string | null)[];
  methodLast4s: (string | null)[];
  failureCodes: (string | null)[];
  providerReferences: (string | null)[];
  createdAts: string[];
  updatedAts: string[];
};

/**
 * record-authorization-decisions: each decision recorded as record-authorization-decision
 * (migration 0004_locked_steps) records one, under its order's lock, with its own events, the
 * orders taken in order-id order. One statement, a transaction of its own; answers a row per
 * decision with its `ordinal`.
 */
const recordDecisionsStatement = compiledStatement<RecordDecisionsValues>(() => {
  const p = placeholder<RecordDecisionsValues>;
  return sql`-- name: record-authorization-decisions
    with announced as (
      select * from unnest(${p('eventOwners')}::int[], ${p('eventIds')}::text[], ${p('eventTypes')}::text[], ${p('eventAggregateIds')}::text[],
          ${p('eventOccurredAts')}::text[], ${p('eventPayloads')}::text[], ${p('eventRequestIds')}::text[])
        with ordinality as e(owner, id, type, aggregate_id, occurred_at, payload, request_id, n)
    )
    select d.ordinal::int as ordinal, r.was_open, r.was_new, r.was_created
    from (
      select * from unnest(${p('consumers')}::text[], ${p('messageIds')}::text[], ${p('ids')}::text[], ${p('orderIds')}::text[],
          ${p('customerIds')}::text[], ${p('statuses')}::text[], ${p('amounts')}::int[], ${p('capturedAmounts')}::int[],
          ${p('refundedAmounts')}::int[], ${p('currencies')}::text[], ${p('methodBrands')}::text[], ${p('methodLast4s')}::text[],
          ${p('failureCodes')}::text[], ${p('providerReferences')}::text[], ${p('createdAts')}::text[], ${p('updatedAts')}::text[])
        with ordinality as d(consumer, message_id, id, order_id, customer_id, status, amount, captured_amount, refunded_amount,
          currency, method_brand, method_last4, failure_code, provider_reference, created_at, updated_at, ordinal)
      order by order_id collate "C"
    ) as d
    cross join lateral (
      select coalesce(array_agg(e.id order by e.n), '{}') as ids, coalesce(array_agg(e.type order by e.n), '{}') as types,
        coalesce(array_agg(e.aggregate_id order by e.n), '{}') as aggregate_ids, coalesce(array_agg(e.occurred_at order by e.n), '{}') as occurred_ats,
        coalesce(array_agg(e.payload order by e.n), '{}') as payloads, coalesce(array_agg(e.request_id order by e.n), '{}') as request_ids
      from announced as e where e.owner = d.ordinal
    ) as ev
    cross join lateral ${paymentSchemaFunction('record_authorization_decision')}(
      d.consumer, d.message_id, d.id, d.order_id, d.customer_id, d.status, d.amount, d.captured_amount, d.refunded_amount,
      d.currency::char(3), d.method_brand, d.method_last4::char(4), d.failure_code, d.provider_reference,
      d.created_at::timestamptz, d.updated_at::timestamptz,
      ev.ids, ev.types, ev.aggregate_ids, ev.occurred_ats, ev.payloads, ev.request_ids) as r`;
});

/** The answer for each call of a run, from rows that carry the call's 1-based `ordinal` in any order. */
function byOrdinal<R extends { ordinal: number }>(rows: readonly R[], calls: number): R[] {
  const answers = new Array<R>(calls);
  for (const row of rows) answers[Number(row.ordinal) - 1] = row;
  for (let i = 0; i < calls; i++) if (!answers[i]) throw new Error(`no row answered call ${i + 1} of ${calls}`);
  return answers;
}

interface AcceptCall {
  consumer: string;
  messageId: string;
  intent: NewPaymentIntent;
}

interface DecisionCall {
  consumer: string;
  messageId: string;
  payment: NewPayment;
  events: readonly EventEnvelope[];
}

/** accept-payment-intents for the calls of one run. */
async function acceptIntents(db: Db, calls: readonly AcceptCall[]): Promise<boolean[]> {
  const rows = await acceptIntentsStatement<{ ordinal: number; accepted: boolean }>(db, {
    consumers: calls.map((c) => c.consumer),
    messageIds: calls.map((c) => c.messageId),
    orderIds: calls.map((c) => c.intent.orderId),
    customerIds: calls.map((c) => c.intent.customerId),
    amounts: calls.map((c) => c.intent.amount),
    currencies: calls.map((c) => c.intent.currency),
    tokens: calls.map((c) => c.intent.token),
  });
  return byOrdinal(rows, calls.length).map((row) => row.accepted === true);
}

/** record-authorization-decisions for the calls of one run. */
async function recordDecisions(db: Db, calls: readonly DecisionCall[]): Promise<DecisionRecord[]> {
  const decided = calls.map((c) => withTimestamps(c.payment));
  const rows = await recordDecisionsStatement<{ ordinal: number; was_open: boolean; was_new: boolean; was_created: boolean }>(db, {
    ...outboxValues(calls.flatMap((c) => c.events)),
    eventOwners: calls.flatMap((c, index) => c.events.map(() => index + 1)),
    consumers: calls.map((c) => c.consumer),
    messageIds: calls.map((c) => c.messageId),
    ids: decided.map((p) => p.id),
    orderIds: decided.map((p) => p.orderId),
    customerIds: decided.map((p) => p.customerId),
    statuses: decided.map((p) => p.status),
    amounts: decided.map((p) => p.amount),
    capturedAmounts: decided.map((p) => p.capturedAmount),
    refundedAmounts: decided.map((p) => p.refundedAmount),
    currencies: decided.map((p) => p.currency),
    methodBrands: decided.map((p) => p.methodBrand),
    methodLast4s: decided.map((p) => p.methodLast4),
    failureCodes: decided.map((p) => p.failureCode),
    providerReferences: decided.map((p) => p.providerReference),
    createdAts: decided.map((p) => p.createdAt.toISOString()),
    updatedAts: decided.map((p) => p.updatedAt.toISOString()),
  });
  return byOrdinal(rows, calls.length).map((row): DecisionRecord => {
    if (!row.was_open) return 'settled';
    if (!row.was_new) return 'duplicate';
    // A new message whose payment could not be written fails the statement instead (see the migration).
    return 'recorded';
  });
}

/** A function of the store's schema, by name. */
function paymentSchemaFunction(name: string): SQL {
  return sql`${sql.identifier(PAYMENT_SCHEMA)}.${sql.identifier(name)}`;
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
  // Every handler reads its order's state first, and the handlers a read of the bus starts side by side
  // read theirs in one statement; the checkout's two steps are gathered the same way, each order once per run.
  const statesOfOrders = orderPaymentStatesQuery(db);
  // A read: two calls for one order share the run, each answered from its own row.
  const stateOfOrder = coalesced(async (orderIds: readonly string[]) => {
    const rows = await statesOfOrders.execute({ orderIds: [...orderIds] });
    return byOrdinal(rows, orderIds.length).map(orderPaymentStateOf);
  });
  const acceptIntent = coalesced((calls: readonly AcceptCall[]) => acceptIntents(db, calls), { key: (call) => call.intent.orderId });
  const recordDecision = coalesced((calls: readonly DecisionCall[]) => recordDecisions(db, calls), { key: (call) => call.payment.orderId });
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
    orderPaymentState: (orderId) => stateOfOrder(orderId),
    acceptIntent: (consumer, messageId, intent) => acceptIntent({ consumer, messageId, intent }),
    recordDecision: (consumer, messageId, payment, events) => recordDecision({ consumer, messageId, payment, events }),

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
