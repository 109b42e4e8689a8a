import path from 'node:path';
import { and, asc, desc, eq, getTableColumns, inArray, lte, sql } from 'drizzle-orm';
import type { Database, Db } from '../../../platform/db';
import { enqueueEvents, markProcessed } from '../../../platform/outbox';
import type { CartChangeOutcome, NewOrder, OrderChangeOutcome, OrderStore, PlacementOutcome } from './port';
import { cartLines, carts, idempotencyKeys, orderLines, orders, outbox, processedMessages } from './schema';

export const ORDER_SCHEMA = 'orders';
export const ORDER_MIGRATIONS = path.join(__dirname, 'migrations');

/** Orders per INSERT when writing in bulk: bounds the size of one statement's JSON. */
const ORDER_CHUNK = 2000;

const tables = { outbox, processedMessages };

const idempotencyColumns = {
  customerId: idempotencyKeys.customerId,
  key: idempotencyKeys.key,
  requestHash: idempotencyKeys.requestHash,
  orderId: idempotencyKeys.orderId,
};

/** Thrown inside a transaction to undo it and answer `outcome` instead. */
class Rollback<T> extends Error {
  constructor(readonly outcome: T) {
    super('transaction rolled back on purpose');
  }
}

/** Runs `work` in a transaction; a `Rollback` undoes it and its outcome is the answer. */
async function transact<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  try {
    return await db.transaction((tx) => work(tx as unknown as Db));
  } catch (error) {
    if (error instanceof Rollback) return error.outcome as T;
    throw error;
  }
}

/** Writes orders and their lines inside the caller's transaction, in chunks. */
async function writeOrders(tx: Db, list: readonly NewOrder[]): Promise<void> {
  for (let i = 0; i < list.length; i += ORDER_CHUNK) {
    const chunk = list.slice(i, i + ORDER_CHUNK);
    const orderRows = chunk.map((order) => ({
      id: order.id,
      customer_id: order.customerId,
      status: order.status,
      currency: order.currency,
      total_amount: order.totalAmount,
      shipping_address: order.shippingAddress,
      failure_reason: order.failureReason ?? null,
      placed_at: order.placedAt.toISOString(),
    }));
    const lineRows = chunk.flatMap((order) =>
      order.lines.map((line, index) => ({
        order_id: order.id,
        line_no: index + 1,
        product_id: line.productId,
        quantity: line.quantity,
        unit_price_amount: line.unitPriceAmount,
      })),
    );
    // A chunk travels as one JSON parameter: multi-row VALUES cost far more to build and to
    // parse (seconds for a few thousand rows), and this stays clear of the bind-parameter limit.
    await tx.execute(sql`-- name: insert-orders
      insert into ${orders} (id, customer_id, status, currency, total_amount, shipping_address, failure_reason, placed_at)
      select id, customer_id, status, currency, total_amount, shipping_address, failure_reason, placed_at
      from jsonb_to_recordset(${JSON.stringify(orderRows)}::jsonb) as r(
        id text, customer_id text, status text, currency char(3), total_amount integer,
        shipping_address jsonb, failure_reason text, placed_at timestamptz)`);
    await tx.execute(sql`-- name: insert-order-lines
      insert into ${orderLines} (order_id, line_no, product_id, quantity, unit_price_amount)
      select order_id, line_no, product_id, quantity, unit_price_amount
      from jsonb_to_recordset(${JSON.stringify(lineRows)}::jsonb) as r(
        order_id text, line_no integer, product_id text, quantity integer, unit_price_amount integer)`);
  }
}

/** Creates the customer's cart if needed and locks its row: changes of one cart take turns. */
async function lockCart(tx: Db, customerId: string): Promise<void> {
  // lock-cart
  await tx
    .insert(carts)
    .values({ customerId })
    .onConflictDoUpdate({ target: carts.customerId, set: { updatedAt: sql`now()` } });
}

async function cartLine(tx: Db, customerId: string, productId: string) {
  // cart-line
  const [line] = await tx
    .select({ quantity: cartLines.quantity })
    .from(cartLines)
    .where(and(eq(cartLines.customerId, customerId), eq(cartLines.productId, productId)));
  return line;
}

async function cartLineCount(tx: Db, customerId: string): Promise<number> {
  // cart-line-count
  const [row] = await tx
    .select({ count: sql<number>`count(*)::int` })
    .from(cartLines)
    .where(eq(cartLines.customerId, customerId));
  return Number(row?.count ?? 0);
}

/** Orders on PostgreSQL, the same code on PGlite and on a server. */
export function postgresOrderStore(database: Database): OrderStore {
  const { db } = database;
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,
    outbox: { database, tables },

    async ordersByIds(ids) {
      if (ids.length === 0) return [];
      // orders-by-ids
      return db.select().from(orders).where(inArray(orders.id, [...ids]));
    },

    async linesOfOrders(orderIds) {
      if (orderIds.length === 0) return [];
      // order-lines-of-orders
      return db
        .select()
        .from(orderLines)
        .where(inArray(orderLines.orderId, [...orderIds]))
        .orderBy(asc(orderLines.orderId), asc(orderLines.lineNo));
    },

    async recentOrdersOfCustomers(customerIds, first) {
      if (customerIds.length === 0 || first <= 0) return [];
      // recent-orders-of-customers: rank each customer's orders newest first and keep the top `first`,
      // so N order histories cost one statement that walks orders_customer_placed_idx.
      const ranked = db
        .select({
          ...getTableColumns(orders),
          rank: sql<number>`row_number() over (partition by ${orders.customerId} order by ${orders.placedAt} desc, ${orders.id} desc)`.as(
            'rank',
          ),
        })
        .from(orders)
        .where(inArray(orders.customerId, [...customerIds]))
        .as('ranked');
      const rows = await db
        .select()
        .from(ranked)
        .where(lte(ranked.rank, first))
        .orderBy(asc(ranked.customerId), desc(ranked.placedAt), desc(ranked.id));
      return rows.map(({ rank: _rank, ...order }) => order);
    },

    async insertOrders(list) {
      if (list.length === 0) return;
      // One transaction, so a refused row leaves no partial import behind.
      await db.transaction((tx) => writeOrders(tx as unknown as Db, list));
    },

    async changeOrder(orderId, decide, consumed): Promise<OrderChangeOutcome> {
      return transact(db, async (tx): Promise<OrderChangeOutcome> => {
        if (consumed && !(await markProcessed(tx, tables, consumed.consumer, consumed.messageId))) return { kind: 'duplicate' };
        // order-for-change: the row lock makes concurrent changes decide one after another.
        const [order] = await tx.select().from(orders).where(eq(orders.id, orderId)).for('update');
        const change = decide(order ?? null);
        if (!change) return { kind: 'unchanged', order: order ?? null };
        if (!order) throw new Error(`a change was decided for order ${orderId}, which does not exist`);
        // order-status-compare-and-set: under the lock it always matches; it guards the rule, not the race.
        const [updated] = await tx
          .update(orders)
          .set({ status: change.next, failureReason: change.failureReason, updatedAt: sql`now()` })
          .where(and(eq(orders.id, orderId), eq(orders.status, order.status)))
          .returning();
        if (!updated) throw new Error(`order ${orderId} changed under its row lock`);
        await enqueueEvents(tx, tables, change.events);
        return { kind: 'changed', order: updated };
      });
    },

    async cartLinesOf(customerIds) {
      if (customerIds.length === 0) return [];
      // cart-lines-of-customers
      return db
        .select()
        .from(cartLines)
        .where(inArray(cartLines.customerId, [...customerIds]))
        .orderBy(asc(cartLines.customerId), asc(cartLines.addedAt), asc(cartLines.productId));
    },

    async addToCart(customerId, productId, quantity, limits): Promise<CartChangeOutcome> {
      return transact(db, async (tx): Promise<CartChangeOutcome> => {
        await lockCart(tx, customerId);
        const line = await cartLine(tx, customerId, productId);
        const total = (line?.quantity ?? 0) + quantity;
        if (total > limits.maxQuantity) throw new Rollback<CartChangeOutcome>('too-many-units');
        if (line) {
          // cart-line-add
          await tx
            .update(cartLines)
            .set({ quantity: total })
            .where(and(eq(cartLines.customerId, customerId), eq(cartLines.productId, productId)));
        } else {
          if ((await cartLineCount(tx, customerId)) >= limits.maxLines) throw new Rollback<CartChangeOutcome>('too-many-lines');
          // cart-line-insert
          await tx.insert(cartLines).values({ customerId, productId, quantity });
        }
        return 'changed';
      });
    },

    async setCartLine(customerId, productId, quantity, limits): Promise<CartChangeOutcome> {
      if (quantity > limits.maxQuantity) return 'too-many-units';
      return transact(db, async (tx): Promise<CartChangeOutcome> => {
        await lockCart(tx, customerId);
        if (quantity <= 0) {
          // cart-line-remove
          await tx.delete(cartLines).where(and(eq(cartLines.customerId, customerId), eq(cartLines.productId, productId)));
          return 'changed';
        }
        if (await cartLine(tx, customerId, productId)) {
          // cart-line-set
          await tx
            .update(cartLines)
            .set({ quantity })
            .where(and(eq(cartLines.customerId, customerId), eq(cartLines.productId, productId)));
        } else {
          if ((await cartLineCount(tx, customerId)) >= limits.maxLines) throw new Rollback<CartChangeOutcome>('too-many-lines');
          // cart-line-insert
          await tx.insert(cartLines).values({ customerId, productId, quantity });
        }
        return 'changed';
      });
    },

    async idempotencyRecord(customerId, key) {
      // idempotency-record
      const [record] = await db
        .select(idempotencyColumns)
        .from(idempotencyKeys)
        .where(and(eq(idempotencyKeys.customerId, customerId), eq(idempotencyKeys.key, key)));
      return record ?? null;
    },

    async placeOrder(placement): Promise<PlacementOutcome> {
      const { order } = placement;
      return transact(db, async (tx): Promise<PlacementOutcome> => {
        // claim-idempotency-key: a concurrent checkout with the same key blocks here until this one ends,
        // then finds the key taken (or claims it, if this one rolled back).
        const claimed = await tx
          .insert(idempotencyKeys)
          .values({ customerId: order.customerId, key: placement.idempotencyKey, requestHash: placement.requestHash, orderId: order.id })
          .onConflictDoNothing()
          .returning({ orderId: idempotencyKeys.orderId });
        if (claimed.length === 0) {
          // idempotency-record-of-winner: a new statement sees the row the other transaction committed.
          const [record] = await tx
            .select(idempotencyColumns)
            .from(idempotencyKeys)
            .where(and(eq(idempotencyKeys.customerId, order.customerId), eq(idempotencyKeys.key, placement.idempotencyKey)));
          if (!record) throw new Error('idempotency key conflicted but its record is missing');
          return { kind: 'key-used', record };
        }
        // lock-cart-for-checkout
        await tx.select({ customerId: carts.customerId }).from(carts).where(eq(carts.customerId, order.customerId)).for('update');
        // cart-lines-for-checkout
        const held = await tx
          .select({ productId: cartLines.productId, quantity: cartLines.quantity })
          .from(cartLines)
          .where(eq(cartLines.customerId, order.customerId));
        const priced = new Map(placement.cart.map((line) => [line.productId, line.quantity]));
        const same = held.length === priced.size && held.every((line) => priced.get(line.productId) === line.quantity);
        if (!same) throw new Rollback<PlacementOutcome>({ kind: 'cart-changed' });
        await writeOrders(tx, [order]);
        // empty-cart: under the cart's lock it still holds exactly the lines just ordered.
        await tx.delete(cartLines).where(eq(cartLines.customerId, order.customerId));
        await enqueueEvents(tx, tables, placement.events);
        return { kind: 'placed' };
      });
    },

    async hasOrders() {
      // orders-exist
      const [row] = await db.select({ id: orders.id }).from(orders).limit(1);
      return row !== undefined;
    },
  };
}
