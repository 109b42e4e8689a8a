import path from 'node:path';
import { and, asc, eq, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import { rowsOf, type Database, type Db } from '../../../platform/db';
import { enqueueEvents, markProcessed, type EventTables } from '../../../platform/outbox';
import { OutboxRelay } from '../../../platform/outbox-relay';
import type {
  BelowReserved,
  InventoryTransaction,
  ReservationLine,
  ReservationRecord,
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
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,

    transaction: (work) => db.transaction((tx) => work(inventoryTransaction(tx))),

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
      db.transaction(async (tx) => {
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

/**
 * Applies stock changes in one statement. Deltas of one level are summed first, since an
 * UPDATE ... FROM applies only one joined row per target row. The CHECK constraints refuse
 * any result outside 0 <= reserved <= on_hand, which rolls the whole transaction back.
 * Callers lock the levels (lockStockOf) beforehand so the lock order stays global.
 */
async function adjustStock(tx: Db, deltas: readonly StockDelta[]): Promise<void> {
  const merged = new Map<string, StockDelta>();
  for (const d of deltas) {
    const key = `${d.productId}\u0000${d.warehouseId}`;
    const current = merged.get(key);
    if (current) {
      current.onHand += d.onHand;
      current.reserved += d.reserved;
    } else merged.set(key, { ...d });
  }
  if (merged.size === 0) return;
  const values = sql.join(
    [...merged.values()].map((d) => sql`(${d.productId}, ${d.warehouseId}, ${d.onHand}::integer, ${d.reserved}::integer)`),
    sql`, `,
  );
  const updated = rowsOf<{ product_id: string }>(
    await tx.execute(sql`-- name: adjust-stock
      update inventory.stock_levels as s
      set on_hand = s.on_hand + v.on_hand_delta, reserved = s.reserved + v.reserved_delta, updated_at = now()
      from (values ${values}) as v(product_id, warehouse_id, on_hand_delta, reserved_delta)
      where s.product_id = v.product_id and s.warehouse_id = v.warehouse_id
      returning s.product_id`),
  );
  if (updated.length !== merged.size) {
    throw new Error(`adjust-stock: ${merged.size - updated.length} stock level(s) do not exist`);
  }
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

    async openReservation(orderId, expiresAt) {
      const inserted = await tx
        .insert(reservations)
        .values({ orderId, status: 'RESERVED', expiresAt })
        .onConflictDoNothing()
        .returning({ orderId: reservations.orderId });
      return inserted.length > 0;
    },

    async closeUnfilled(orderId, at) {
      await tx
        .update(reservations)
        .set({ status: 'RELEASED', updatedAt: at })
        .where(and(eq(reservations.orderId, orderId), eq(reservations.status, 'RESERVED')));
    },

    lockStockOf,

    async reserveLines(orderId, lines) {
      if (lines.length === 0) return;
      await adjustStock(
        tx,
        lines.map((l) => ({ productId: l.productId, warehouseId: l.warehouseId, onHand: 0, reserved: l.quantity })),
      );
      await tx.insert(reservationLines).values(lines.map((l) => ({ orderId, ...l })));
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

    async confirmReservation(orderId, at) {
      const confirmed = await tx
        .update(reservations)
        .set({ confirmedAt: at, updatedAt: at })
        .where(and(eq(reservations.orderId, orderId), eq(reservations.status, 'RESERVED'), isNull(reservations.confirmedAt)))
        .returning({ orderId: reservations.orderId });
      return confirmed.length > 0;
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
