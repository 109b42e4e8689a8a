import path from 'node:path';
import { and, asc, desc, eq, getTableColumns, inArray, lte, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/db';
import type { OrderRecord, OrderStore } from './port';
import { orderLines, orders } from './schema';

export const ORDER_SCHEMA = 'orders';
export const ORDER_MIGRATIONS = path.join(__dirname, 'migrations');

/** Orders per INSERT when writing in bulk: bounds the size of one statement's JSON. */
const ORDER_CHUNK = 2000;

/** Orders on PostgreSQL, the same code on PGlite and on a server. */
export function postgresOrderStore(database: Database): OrderStore {
  const { db } = database;
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,

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
      await db.transaction(async (tx) => {
        for (let i = 0; i < list.length; i += ORDER_CHUNK) {
          const chunk = list.slice(i, i + ORDER_CHUNK);
          const orderRows = chunk.map((order) => ({
            id: order.id,
            customer_id: order.customerId,
            status: order.status,
            currency: order.currency,
            total_amount: order.totalAmount,
            shipping_address: order.shippingAddress,
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
            insert into ${orders} (id, customer_id, status, currency, total_amount, shipping_address, placed_at)
            select id, customer_id, status, currency, total_amount, shipping_address, placed_at
            from jsonb_to_recordset(${JSON.stringify(orderRows)}::jsonb) as r(
              id text, customer_id text, status text, currency char(3), total_amount integer,
              shipping_address jsonb, placed_at timestamptz)`);
          await tx.execute(sql`-- name: insert-order-lines
            insert into ${orderLines} (order_id, line_no, product_id, quantity, unit_price_amount)
            select order_id, line_no, product_id, quantity, unit_price_amount
            from jsonb_to_recordset(${JSON.stringify(lineRows)}::jsonb) as r(
              order_id text, line_no integer, product_id text, quantity integer, unit_price_amount integer)`);
        }
      });
    },

    async compareAndSetStatus(orderId, expected, next): Promise<OrderRecord | null> {
      // order-status-compare-and-set: the WHERE on the expected status makes a concurrent change win or lose whole.
      const [row] = await db
        .update(orders)
        .set({ status: next, updatedAt: sql`now()` })
        .where(and(eq(orders.id, orderId), eq(orders.status, expected)))
        .returning();
      return row ?? null;
    },

    async hasOrders() {
      // orders-exist
      const [row] = await db.select({ id: orders.id }).from(orders).limit(1);
      return row !== undefined;
    },
  };
}
