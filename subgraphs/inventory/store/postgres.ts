import path from 'node:path';
import { and, asc, eq, inArray, isNull, lte, or, sql, type Placeholder, type SQL } from 'drizzle-orm';
import { coalesced } from '../../../platform/coalesce';
import { compiledStatement, placeholder, rowsOf, type Database, type Db } from '../../../platform/db';
import { enqueueEvents, markProcessed, outboxInsert, outboxInsertOf, outboxValues, processedInsertFrom, processedInsertOf, type EventTables, type OutboxValues } from '../../../platform/outbox';
import { OutboxRelay } from '../../../platform/outbox-relay';
import type {
  BelowReserved,
  ConfirmOutcome,
  InventoryTransaction,
  LockedStockLevel,
  ReservationLine,
  ReservationRecord,
  ReservationStatus,
  StockLevelRecord,
  StockStore,
  WarehouseRecord,
} from './port';
import { outbox, processedMessages, reservationLines, reservations, stockLevels, warehouses } from './schema';

export const INVENTORY_SCHEMA = 'inventory';
export const INVENTORY_MIGRATIONS = path.join(__dirname, 'migrations');

/** Inventory on PostgreSQL, the same code on PGlite and on a server. */
export function postgresStockStore(database: Database): StockStore {
  const { db } = database;
  let transactions = 0;
  const transaction = <T>(work: (tx: Db) => Promise<T>): Promise<T> => {
    transactions += 1;
    return db.transaction(work);
  };
  // The OrderConfirmed events a read of the bus hands its handlers side by side, one per order, in one statement.
  const confirmed = coalesced(
    async (calls: readonly { consumer: string; messageId: string; orderId: string; at: Date }[]) => {
      return confirmReservationStatement<{ processed: boolean; confirmed: boolean; status: ReservationStatus | null; paid: boolean }>(db, {
        consumers: calls.map((call) => call.consumer),
        messageIds: calls.map((call) => call.messageId),
        orderIds: calls.map((call) => call.orderId),
        ats: calls.map((call) => call.at.toISOString()),
      });
    },
    // The statement's update may touch a reservation once: a second confirmation of the same order waits for the next.
    { key: ({ orderId }) => orderId },
  );
  const confirmReservation = async (call: { consumer: string; messageId: string; orderId: string; at: Date }): Promise<ConfirmOutcome> => {
    const row = await confirmed(call);
    if (!row.processed) return { kind: 'duplicate' };
    if (row.confirmed) return { kind: 'confirmed' };
    // What the statement read is from before it ran: a RESERVED, unpaid row it did not confirm
    // was changed meanwhile by a transaction that committed first, so read what that left.
    if (row.status === 'RESERVED' && !row.paid) {
      const [latest] = await db.select({ status: reservations.status }).from(reservations).where(eq(reservations.orderId, call.orderId));
      return { kind: 'unchanged', status: latest?.status ?? null };
    }
    return { kind: 'unchanged', status: row.status };
  };
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,
    transactionCount: () => transactions,

    transaction: (work) => transaction((tx) => work(inventoryTransaction(tx))),

    confirmReservation: (consumer, messageId, orderId, at) => confirmReservation({ consumer, messageId, orderId, at }),

    async reservationsByOrderIds(orderIds) {
      if (orderIds.length === 0) return [];
      return withLines(db, await db.select().from(reservations).where(inArray(reservations.orderId, [...orderIds])));
    },

    outboxRelay: (options) => new OutboxRelay({ ...options, database, tables: EVENT_TABLES }),

    async listWarehouses() {
      return db.select().from(warehouses).orderBy(asc(warehouses.code));
    },

    async warehousesByIds(ids) {
      if (ids.length === 0) return [];
      return db.select().from(warehouses).where(inArray(warehouses.id, [...ids]));
    },

    async stockLevelsFor(productIds) {
      if (productIds.length === 0) return [];
      return db
        .select()
        .from(stockLevels)
        .where(inArray(stockLevels.productId, [...productIds]))
        .orderBy(asc(stockLevels.productId), asc(stockLevels.warehouseId));
    },

    async setOnHand(productId, warehouseId, onHand): Promise<StockLevelRecord | BelowReserved> {
      // set-stock: one statement, so a concurrent reservation cannot slip between check and write.
      const [row] = await db
        .insert(stockLevels)
        .values({ productId, warehouseId, onHand, reserved: 0 })
        .onConflictDoUpdate({
          target: [stockLevels.productId, stockLevels.warehouseId],
          set: { onHand, updatedAt: sql`now()` },
          setWhere: sql`${stockLevels.reserved} <= ${onHand}`,
        })
        .returning();
      if (row) return row;
      const [current] = await db
        .select({ reserved: stockLevels.reserved })
        .from(stockLevels)
        .where(and(eq(stockLevels.productId, productId), eq(stockLevels.warehouseId, warehouseId)));
      return { kind: 'below-reserved', reserved: current?.reserved ?? 0 };
    },

    addWarehouses: (list) => addWarehouses(db, list),
    setOnHandMany: (levels) => setOnHandMany(db, levels),
    // Warehouses and counts land together or not at all: an import stopped halfway is not "seeded".
    importStock: (list, levels) =>
      transaction(async (tx) => {
        await addWarehouses(tx, list);
        await setOnHandMany(tx, levels);
      }),
  };
}

async function addWarehouses(db: Db, list: readonly WarehouseRecord[]): Promise<void> {
  if (list.length === 0) return;
  await db.insert(warehouses).values([...list]).onConflictDoNothing();
}

async function setOnHandMany(db: Db, levels: readonly { productId: string; warehouseId: string; onHand: number }[]): Promise<void> {
  const chunk = 1000;
  for (let i = 0; i < levels.length; i += chunk) {
    await db
      .insert(stockLevels)
      .values(levels.slice(i, i + chunk).map((l) => ({ ...l, reserved: 0 })))
      .onConflictDoUpdate({
        target: [stockLevels.productId, stockLevels.warehouseId],
        set: { onHand: sql`excluded.on_hand`, updatedAt: sql`now()` },
      });
  }
}

const EVENT_TABLES: EventTables = { outbox, processedMessages };

type ReservationRow = typeof reservations.$inferSelect;

/** Attaches each reservation's lines, read in one statement. */
async function withLines(tx: Db, rows: readonly ReservationRow[]): Promise<ReservationRecord[]> {
  if (rows.length === 0) return [];
  const lines = await tx
    .select()
    .from(reservationLines)
    .where(
      inArray(
        reservationLines.orderId,
        rows.map((r) => r.orderId),
      ),
    )
    .orderBy(asc(reservationLines.orderId), asc(reservationLines.productId), asc(reservationLines.warehouseId));
  const byOrder = new Map<string, ReservationLine[]>();
  for (const { orderId, productId, warehouseId, quantity } of lines) {
    const list = byOrder.get(orderId) ?? [];
    list.push({ productId, warehouseId, quantity });
    byOrder.set(orderId, list);
  }
  return rows.map((row) => ({ ...row, lines: byOrder.get(row.orderId) ?? [] }));
}


/** A change of one stock level: units added to (or, negative, taken from) on hand and reserved. */
interface StockDelta {
  productId: string;
  warehouseId: string;
  onHand: number;
  reserved: number;
}

/** One whole-array parameter, not a list expanded into one parameter per element: the SQL text stays the same. */
const array = (values: readonly (string | number | null)[]) => sql.param(values);

/** Sums the deltas of each level, since an UPDATE ... FROM applies only one joined row per target row. */
function mergeDeltas(deltas: readonly StockDelta[]): StockDelta[] {
  const merged = new Map<string, StockDelta>();
  for (const d of deltas) {
    const key = `${d.productId}\u0000${d.warehouseId}`;
    const current = merged.get(key);
    if (current) {
      current.onHand += d.onHand;
      current.reserved += d.reserved;
    } else merged.set(key, { ...d });
  }
  return [...merged.values()];
}

/** Merged stock changes as the four arrays `adjustStockUpdate` takes. */
type DeltaValues = { productIds: string[]; warehouseIds: string[]; onHandDeltas: number[]; reservedDeltas: number[] };

function deltaValues(merged: readonly StockDelta[]): DeltaValues {
  return {
    productIds: merged.map((d) => d.productId),
    warehouseIds: merged.map((d) => d.warehouseId),
    onHandDeltas: merged.map((d) => d.onHand),
    reservedDeltas: merged.map((d) => d.reserved),
  };
}

/**
 * The update that applies merged stock changes, returning a row per level it changed; each
 * array is a value (`array`) or a compiled statement's placeholder. The CHECK constraints
 * refuse any result outside 0 <= reserved <= on_hand, which rolls the whole transaction
 * back. Callers lock the levels first so the lock order stays global.
 */
function adjustStockUpdate(column: (name: keyof DeltaValues) => SQL | Placeholder): SQL {
  return sql`update ${stockLevels} as s
      set on_hand = s.on_hand + v.on_hand_delta, reserved = s.reserved + v.reserved_delta, updated_at = now()
      from unnest(
        ${column('productIds')}::text[],
        ${column('warehouseIds')}::text[],
        ${column('onHandDeltas')}::int[],
        ${column('reservedDeltas')}::int[]) as v(product_id, warehouse_id, on_hand_delta, reserved_delta)
      where s.product_id = v.product_id and s.warehouse_id = v.warehouse_id
      returning s.product_id`;
}

/** OrderConfirmed events as confirm-reservation takes them: one array per field, an element per event, each order once. */
type ConfirmReservationValues = { consumers: string[]; messageIds: string[]; orderIds: string[]; ats: string[] };

/**
 * confirm-reservation: for each confirmation, records the message and, only if it is new,
 * marks the order's reservation paid while it is still RESERVED; answers each reservation as
 * the statement saw it. The confirmations of many orders go in one statement, each order once,
 * its messages and then its reservations locked in key order.
 * Arrays, not a JSON document: the planner takes an array parameter for a few elements and
 * looks each reservation up by its key, where a JSON document's hundred rows led it to scan them all.
 */
const confirmReservationStatement = compiledStatement<ConfirmReservationValues>(() => {
  const p = placeholder<ConfirmReservationValues>;
  return sql`-- name: confirm-reservation
    with confirmation as (
      -- Text arrays cast in SQL: the driver sends plain strings, whatever it would do with timestamps.
      select consumer, message_id, order_id, at::timestamptz as at, ordinal
      from unnest(${p('consumers')}::text[], ${p('messageIds')}::text[], ${p('orderIds')}::text[], ${p('ats')}::text[])
        with ordinality as c(consumer, message_id, order_id, at, ordinal)
    ),
    processed as (
      ${processedInsertFrom(EVENT_TABLES, 'confirmation')}
    ),
    confirmed as (
      update ${reservations} as r set confirmed_at = c.at, updated_at = c.at
      from (
        select confirmation.order_id, confirmation.at from confirmation join processed using (consumer, message_id)
        order by confirmation.order_id collate "C"
      ) as c
      where r.order_id = c.order_id and r.status = 'RESERVED' and r.confirmed_at is null
      returning r.order_id
    )
    select processed.message_id is not null as processed, confirmed.order_id is not null as confirmed,
      r.status, r.confirmed_at is not null as paid
    from confirmation
    left join processed using (consumer, message_id)
    left join confirmed on confirmed.order_id = confirmation.order_id
    left join ${reservations} as r on r.order_id = confirmation.order_id
    order by confirmation.ordinal`;
});

type OpenReservationValues = { consumer: string; messageId: string; orderId: string; expiresAt: string; productIds: string[] };

/**
 * open-reservation: records the message and, only if it is new, opens the order's reservation
 * and locks the stock levels of its products. The reservation row is written (and so locked)
 * before any stock row, and the stock rows are locked in lockStockOf's order: the sort sits
 * below the lock, so they lock in that order.
 */
const openReservationStatement = compiledStatement<OpenReservationValues>(() => {
  const p = placeholder<OpenReservationValues>;
  return sql`-- name: open-reservation
    with processed as (
      ${processedInsertOf(EVENT_TABLES)}
    ),
    opened as (
      insert into ${reservations} (order_id, status, expires_at)
      select ${p('orderId')}::text, 'RESERVED', ${p('expiresAt')}::timestamptz
      where exists (select from processed)
      on conflict do nothing
      returning order_id
    ),
    locked as materialized (
      select product_id, warehouse_id, on_hand, reserved from ${stockLevels}
      where product_id = any(${p('productIds')}::text[]) and exists (select from opened)
      order by product_id, warehouse_id
      for update
    )
    select exists (select from processed) as processed, exists (select from opened) as opened, l.*
    from (select) as one
    left join locked as l on true
    order by l.product_id, l.warehouse_id`;
});

type FillReservationValues = DeltaValues & OutboxValues & { orderId: string };

/** fill-reservation: reserves the units, writes the reservation's lines (one per level) and its events. */
const fillReservationStatement = compiledStatement<FillReservationValues>(() => {
  const p = placeholder<FillReservationValues>;
  return sql`-- name: fill-reservation
    with adjusted as (
      ${adjustStockUpdate(p)}
    ),
    filled as (
      insert into ${reservationLines} (order_id, product_id, warehouse_id, quantity)
      select ${p('orderId')}::text, product_id, warehouse_id, quantity
      from unnest(${p('productIds')}::text[], ${p('warehouseIds')}::text[], ${p('reservedDeltas')}::int[]) as l(product_id, warehouse_id, quantity)
      returning order_id
    ),
    announced as (
      ${outboxInsertOf(EVENT_TABLES)}
    )
    select (select count(*) from adjusted)::int as adjusted`;
});

/** Refuses a change that named a stock level that does not exist, rolling the transaction back. */
function requireEveryLevel(expected: number, updated: number): void {
  if (updated !== expected) throw new Error(`adjust-stock: ${expected - updated} stock level(s) do not exist`);
}

/** Applies stock changes in one statement (see adjustStockUpdate). */
async function adjustStock(tx: Db, deltas: readonly StockDelta[]): Promise<void> {
  const merged = mergeDeltas(deltas);
  if (merged.length === 0) return;
  const values = deltaValues(merged);
  const updated = rowsOf<{ product_id: string }>(await tx.execute(sql`-- name: adjust-stock
      ${adjustStockUpdate((name) => sql`${array(values[name])}`)}`));
  requireEveryLevel(merged.length, updated.length);
}

function inventoryTransaction(tx: Db): InventoryTransaction {
  const lockStockOf = async (productIds: readonly string[]): Promise<StockLevelRecord[]> => {
    if (productIds.length === 0) return [];
    // The one place stock rows are locked: always in (product, warehouse) order, so two
    // transactions wanting overlapping rows queue instead of deadlocking.
    return tx
      .select()
      .from(stockLevels)
      .where(inArray(stockLevels.productId, [...new Set(productIds)]))
      .orderBy(asc(stockLevels.productId), asc(stockLevels.warehouseId))
      .for('update');
  };

  return {
    markProcessed: (consumer, messageId) => markProcessed(tx, EVENT_TABLES, consumer, messageId),

    enqueue: (events) => enqueueEvents(tx, EVENT_TABLES, events),

    async openReservation(consumer, messageId, orderId, expiresAt, productIds) {
      const rows = await openReservationStatement<{
        processed: boolean;
        opened: boolean;
        product_id: string | null;
        warehouse_id: string | null;
        on_hand: number | null;
        reserved: number | null;
      }>(tx, { consumer, messageId, orderId, expiresAt: expiresAt.toISOString(), productIds: [...new Set(productIds)] });
      const [first] = rows;
      if (!first?.processed) return { kind: 'duplicate' };
      if (!first.opened) return { kind: 'known' };
      const levels: LockedStockLevel[] = [];
      for (const row of rows) {
        if (row.product_id === null) continue;
        levels.push({ productId: row.product_id, warehouseId: row.warehouse_id!, onHand: Number(row.on_hand), reserved: Number(row.reserved) });
      }
      return { kind: 'opened', levels };
    },

    async fillReservation(orderId, lines, events) {
      const merged = mergeDeltas(lines.map((l) => ({ productId: l.productId, warehouseId: l.warehouseId, onHand: 0, reserved: l.quantity })));
      if (merged.length === 0) throw new Error('fill-reservation: a reservation needs at least one line');
      const [row] = await fillReservationStatement<{ adjusted: number }>(tx, { ...deltaValues(merged), ...outboxValues(events), orderId });
      requireEveryLevel(merged.length, Number(row?.adjusted ?? 0));
    },

    async refuseReservation(orderId, at, events) {
      await tx.execute(sql`-- name: refuse-reservation
        with closed as (
          update ${reservations} set status = 'RELEASED', updated_at = ${at.toISOString()}::timestamptz
          where order_id = ${orderId} and status = 'RESERVED'
          returning order_id
        ),
        announced as (
          ${outboxInsert(EVENT_TABLES, events)}
        )
        select (select count(*) from closed)::int as closed`);
    },

    async recordClosedBeforePlaced(orderId, at) {
      const inserted = await tx
        .insert(reservations)
        .values({ orderId, status: 'RELEASED', expiresAt: at, closedBeforePlaced: true, createdAt: at, updatedAt: at })
        .onConflictDoNothing()
        .returning({ orderId: reservations.orderId });
      return inserted.length > 0;
    },

    async lockReservation(orderId) {
      const rows = await tx.select().from(reservations).where(eq(reservations.orderId, orderId)).for('update');
      return (await withLines(tx, rows))[0] ?? null;
    },

    async closeReservations(list, status, at) {
      if (list.length === 0) return;
      const shipped = status === 'SHIPPED';
      if (list.some((r) => r.status !== 'RESERVED' && !(shipped && r.status === 'EXPIRED'))) {
        throw new Error(`close-reservations: only RESERVED reservations (or EXPIRED ones, shipped) can become ${status}`);
      }
      await lockStockOf(list.flatMap((r) => r.lines.map((l) => l.productId)));
      // A RESERVED reservation holds its units (reserved); an EXPIRED one gave them back already.
      await adjustStock(
        tx,
        list.flatMap((r) =>
          r.lines.map((l) => ({
            productId: l.productId,
            warehouseId: l.warehouseId,
            onHand: shipped ? -l.quantity : 0,
            reserved: r.status === 'RESERVED' ? -l.quantity : 0,
          })),
        ),
      );
      const closed = await tx
        .update(reservations)
        .set({ status, updatedAt: at })
        .where(or(...list.map((r) => and(eq(reservations.orderId, r.orderId), eq(reservations.status, r.status)))))
        .returning({ orderId: reservations.orderId });
      // Stock was already adjusted for every reservation passed; one whose status changed
      // meanwhile would have its units counted twice, so refuse the whole transaction.
      if (closed.length !== list.length) throw new Error('close-reservations: a reservation changed status meanwhile');
    },

    async claimExpired(now, limit) {
      // claim-expired-reservations: due, unpaid, skipping rows a handler or another sweeper holds.
      const rows = await tx
        .select()
        .from(reservations)
        .where(and(eq(reservations.status, 'RESERVED'), isNull(reservations.confirmedAt), lte(reservations.expiresAt, now)))
        .orderBy(asc(reservations.expiresAt), asc(reservations.orderId))
        .limit(limit)
        .for('update', { skipLocked: true });
      return withLines(tx, rows);
    },
  };
}
