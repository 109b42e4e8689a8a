import path from 'node:path';
import { and, asc, eq, inArray, isNull, lte, or, sql, type Placeholder, type SQL } from 'drizzle-orm';
import { coalesced } from '../../../platform/coalesce';
import { compiledStatement, placeholder, rowsOf, type Database, type Db } from '../../../platform/db';
import { eventRetentionWorker } from '../../../platform/event-retention';
import { enqueueEvents, markProcessed, outboxInsertOf, outboxValues, processedInsertFrom, type EventTables, type OutboxValues } from '../../../platform/outbox';
import { OutboxRelay } from '../../../platform/outbox-relay';
import type {
  BelowReserved,
  ConfirmOutcome,
  InventoryTransaction,
  LockedStockLevel,
  OpenedReservations,
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
    eventRetention: (config, logger) => eventRetentionWorker('inventory', database, EVENT_TABLES, config, logger),

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
 * The answer reads each reservation in a lateral subquery (`limit 1`: the key is unique), an
 * index lookup whatever the planner knew of the table when it cached the plan: a plain join,
 * planned on a new shop's empty table, hash-joined a scan of the whole table, and that plan
 * stayed cached while the table grew, until its first analyze.
 */
export const confirmReservationStatement = compiledStatement<ConfirmReservationValues>(() => {
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
    left join lateral (
      select status, confirmed_at from ${reservations} where order_id = confirmation.order_id limit 1
    ) as r on true
    order by confirmation.ordinal`;
});

/** OrderPlaced messages as open-reservations takes them: one array per field, an element per order. */
type OpenReservationsValues = { consumer: string; messageIds: string[]; orderIds: string[]; expiresAts: string[]; productIds: string[] };

/**
 * open-reservations: records each message and, only where it is new, opens its order's
 * reservation; then locks the stock levels of every product named, if it opened any. The
 * messages are written in key order, then the reservation rows in order-id order, then the
 * stock rows in lockStockOf's order (the sort sits below the lock, so they lock in that
 * order). Answers a row per request (`ordinal` set), then a row per locked level in that order.
 */
const openReservationsStatement = compiledStatement<OpenReservationsValues>(() => {
  const p = placeholder<OpenReservationsValues>;
  return sql`-- name: open-reservations
    with requested as (
      select ${p('consumer')}::text as consumer, message_id, order_id, expires_at::timestamptz as expires_at, ordinal
      from unnest(${p('messageIds')}::text[], ${p('orderIds')}::text[], ${p('expiresAts')}::text[])
        with ordinality as r(message_id, order_id, expires_at, ordinal)
    ),
    processed as (
      ${processedInsertFrom(EVENT_TABLES, 'requested')}
    ),
    opened as (
      insert into ${reservations} (order_id, status, expires_at)
      select requested.order_id, 'RESERVED', requested.expires_at
      from requested join processed using (consumer, message_id)
      order by requested.order_id collate "C"
      on conflict do nothing
      returning order_id
    ),
    locked as materialized (
      select product_id, warehouse_id, on_hand, reserved from ${stockLevels}
      where product_id = any(${p('productIds')}::text[]) and exists (select from opened)
      order by product_id, warehouse_id
      for update
    )
    select requested.ordinal::int as ordinal, processed.message_id is not null as processed, opened.order_id is not null as opened,
      null::text as product_id, null::text as warehouse_id, null::int as on_hand, null::int as reserved
    from requested
    left join processed using (consumer, message_id)
    left join opened on opened.order_id = requested.order_id
    union all
    select null, null, null, product_id, warehouse_id, on_hand, reserved from locked
    order by ordinal nulls last, product_id, warehouse_id`;
});

type FillReservationsValues = DeltaValues &
  OutboxValues & { lineOrderIds: string[]; lineProductIds: string[]; lineWarehouseIds: string[]; lineQuantities: number[]; refusedOrderIds: string[]; at: string };

/**
 * fill-reservations: reserves the units of the filled reservations, writes their lines (one
 * per order and level), closes the refused ones RELEASED, and writes the events.
 */
const fillReservationsStatement = compiledStatement<FillReservationsValues>(() => {
  const p = placeholder<FillReservationsValues>;
  return sql`-- name: fill-reservations
    with adjusted as (
      ${adjustStockUpdate(p)}
    ),
    filled as (
      insert into ${reservationLines} (order_id, product_id, warehouse_id, quantity)
      select order_id, product_id, warehouse_id, quantity
      from unnest(${p('lineOrderIds')}::text[], ${p('lineProductIds')}::text[], ${p('lineWarehouseIds')}::text[], ${p('lineQuantities')}::int[])
        as l(order_id, product_id, warehouse_id, quantity)
      returning order_id
    ),
    refused as (
      update ${reservations} set status = 'RELEASED', updated_at = ${p('at')}::timestamptz
      where order_id = any(${p('refusedOrderIds')}::text[]) and status = 'RESERVED'
      returning order_id
    ),
    announced as (
      ${outboxInsertOf(EVENT_TABLES)}
    )
    select (select count(*) from adjusted)::int as adjusted, (select count(*) from refused)::int as refused`;
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

    async openReservations(consumer, requests) {
      if (requests.length === 0) return { outcomes: [], levels: [] };
      if (new Set(requests.map((r) => r.orderId)).size !== requests.length) throw new Error('open-reservations: an order is named twice');
      const rows = await openReservationsStatement<{
        ordinal: number | null;
        processed: boolean | null;
        opened: boolean | null;
        product_id: string | null;
        warehouse_id: string | null;
        on_hand: number | null;
        reserved: number | null;
      }>(tx, {
        consumer,
        messageIds: requests.map((r) => r.messageId),
        orderIds: requests.map((r) => r.orderId),
        expiresAts: requests.map((r) => r.expiresAt.toISOString()),
        productIds: [...new Set(requests.flatMap((r) => r.productIds))],
      });
      const outcomes: OpenedReservations['outcomes'] = new Array(requests.length);
      const levels: LockedStockLevel[] = [];
      for (const row of rows) {
        if (row.ordinal !== null) outcomes[Number(row.ordinal) - 1] = !row.processed ? 'duplicate' : row.opened ? 'opened' : 'known';
        else levels.push({ productId: row.product_id!, warehouseId: row.warehouse_id!, onHand: Number(row.on_hand), reserved: Number(row.reserved) });
      }
      return { outcomes, levels };
    },

    async fillReservations(filled, refused, at, events) {
      const reserving = (lines: readonly ReservationLine[]) => mergeDeltas(lines.map((l) => ({ productId: l.productId, warehouseId: l.warehouseId, onHand: 0, reserved: l.quantity })));
      // One line per order and level, then the stock change of all of them, one per level.
      const lines = filled.flatMap(({ orderId, lines }) => {
        const merged = reserving(lines);
        if (merged.length === 0) throw new Error(`fill-reservations: the reservation of ${orderId} needs at least one line`);
        return merged.map((d) => ({ orderId, productId: d.productId, warehouseId: d.warehouseId, quantity: d.reserved }));
      });
      const merged = reserving(lines);
      const [row] = await fillReservationsStatement<{ adjusted: number; refused: number }>(tx, {
        ...deltaValues(merged),
        ...outboxValues(events),
        lineOrderIds: lines.map((l) => l.orderId),
        lineProductIds: lines.map((l) => l.productId),
        lineWarehouseIds: lines.map((l) => l.warehouseId),
        lineQuantities: lines.map((l) => l.quantity),
        refusedOrderIds: [...refused],
        at: at.toISOString(),
      });
      requireEveryLevel(merged.length, Number(row?.adjusted ?? 0));
      // Opened in this transaction, so still RESERVED: anything else is a mistake of the caller.
      if (Number(row?.refused ?? 0) !== refused.length) throw new Error(`fill-reservations: ${refused.length - Number(row?.refused ?? 0)} refused reservation(s) were not open`);
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
