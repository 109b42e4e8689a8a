import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import type { Database, Db } from '../../../platform/db';
import { aggregatePurchases, type Purchase } from '../co-purchases';
import { markProcessed } from '../../../platform/outbox';
import type { RecommendationStore } from './port';
import { coPurchases, customerPurchases, orderEvents, processedMessages } from './schema';

export const RECOMMENDATION_SCHEMA = 'recommendation';
export const RECOMMENDATION_MIGRATIONS = path.join(__dirname, 'migrations');

/** Rows per upsert: each statement ships three arrays, so only memory bounds it. */
const UPSERT_CHUNK = 5000;

type Executor = Pick<Db, 'execute'>;

/** One whole-array parameter, not a list expanded into one parameter per element. */
const array = (values: readonly (string | number)[]) => sql.param(values);

function chunks<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += UPSERT_CHUNK) out.push(list.slice(i, i + UPSERT_CHUNK));
  return out;
}

async function addTotals(tx: Executor, purchases: readonly Purchase[]): Promise<void> {
  const { pairs, customerProducts } = aggregatePurchases(purchases);
  // Upserts add to the stored counts in the database, so concurrent orders never lose an increment.
  for (const chunk of chunks(pairs)) {
    await tx.execute(sql`
      -- name: add-co-purchase-weights
      insert into ${coPurchases} (product_id, other_product_id, weight)
      select * from unnest(
        ${array(chunk.map((p) => p.productId))}::text[],
        ${array(chunk.map((p) => p.otherProductId))}::text[],
        ${array(chunk.map((p) => p.weight))}::int[])
      on conflict (product_id, other_product_id) do update set weight = co_purchases.weight + excluded.weight`);
  }
  for (const chunk of chunks(customerProducts)) {
    await tx.execute(sql`
      -- name: add-customer-purchases
      insert into ${customerPurchases} (customer_id, product_id, quantity)
      select * from unnest(
        ${array(chunk.map((p) => p.customerId))}::text[],
        ${array(chunk.map((p) => p.productId))}::text[],
        ${array(chunk.map((p) => p.quantity))}::int[])
      on conflict (customer_id, product_id) do update set quantity = customer_purchases.quantity + excluded.quantity`);
  }
}

/** Groups `[key, id]` rows, already in rank order, into a map of id lists. */
function grouped(rows: readonly { key: string; id: string | null }[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { key, id } of rows) {
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    if (id !== null) list.push(id);
  }
  return out;
}

/**
 * Recommendations on PostgreSQL tables, the same code on PGlite and on a server.
 * Ties are broken by id in byte order (`collate "C"`) so every server ranks alike.
 */
export function postgresRecommendationStore(database: Database): RecommendationStore {
  const { db } = database;
  const recordPurchases = async (purchases: readonly Purchase[]) => {
    if (!purchases.some((p) => p.productIds.length > 0)) return;
    await db.transaction((tx) => addTotals(tx, purchases));
  };
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,

    recordPurchase: (customerId, productIds) => recordPurchases([{ customerId, productIds }]),
    recordPurchases,

    noteOrderEvent: (consumer, messageId, note) =>
      db.transaction(async (tx) => {
        if (!(await markProcessed(tx, { processedMessages }, consumer, messageId))) return 'duplicate';
        // The upsert locks the order's row, so OrderPlaced and OrderConfirmed handled at once
        // serialize here and exactly one of them sees both facts and records the purchase.
        const [order] =
          note.kind === 'placed'
            ? await tx
                .insert(orderEvents)
                .values({ orderId: note.orderId, customerId: note.customerId, productIds: [...note.productIds] })
                .onConflictDoUpdate({
                  target: orderEvents.orderId,
                  set: { customerId: note.customerId, productIds: [...note.productIds] },
                })
                .returning()
            : await tx
                .insert(orderEvents)
                .values({ orderId: note.orderId, confirmed: true })
                .onConflictDoUpdate({ target: orderEvents.orderId, set: { confirmed: true } })
                .returning();
        if (!order || !order.confirmed || order.recorded || order.customerId === null) return 'noted';
        await addTotals(tx, [{ customerId: order.customerId, productIds: order.productIds ?? [] }]);
        await tx.update(orderEvents).set({ recorded: true }).where(eq(orderEvents.orderId, note.orderId));
        return 'recorded';
      }),

    async boughtTogether(productIds, limit) {
      if (productIds.length === 0) return new Map();
      return grouped(
        await database.rows<{ key: string; id: string }>(sql`
          -- name: bought-together
          select product_id as key, other_product_id as id
          from (
            select product_id, other_product_id,
              row_number() over (partition by product_id order by weight desc, other_product_id collate "C") as rank
            from ${coPurchases}
            where product_id = any(${array(productIds)}::text[])
          ) ranked
          where rank <= ${limit}
          order by product_id, rank`),
      );
    },

    async forCustomers(customerIds, limit) {
      if (customerIds.length === 0) return new Map();
      return grouped(
        await database.rows<{ key: string; id: string | null }>(sql`
          -- name: recommendations-for-customers
          with bought as (
            select customer_id, product_id from ${customerPurchases}
            where customer_id = any(${array(customerIds)}::text[])
          ),
          scored as (
            select b.customer_id, co.other_product_id as product_id, sum(co.weight) as score
            from bought b
            join ${coPurchases} co on co.product_id = b.product_id
            where not exists (
              select 1 from bought own where own.customer_id = b.customer_id and own.product_id = co.other_product_id)
            group by b.customer_id, co.other_product_id
          ),
          ranked as (
            select customer_id, product_id,
              row_number() over (partition by customer_id order by score desc, product_id collate "C") as rank
            from scored
          )
          select buyers.customer_id as key, ranked.product_id as id
          from (select distinct customer_id from bought) buyers
          left join ranked on ranked.customer_id = buyers.customer_id and ranked.rank <= ${limit}
          order by buyers.customer_id, ranked.rank`),
      );
    },

    async bestSellers(limit) {
      const rows = await database.rows<{ id: string }>(sql`
        -- name: best-sellers (units sold over every customer)
        select product_id as id from ${customerPurchases}
        group by product_id
        order by sum(quantity) desc, product_id collate "C"
        limit ${limit}`);
      return rows.map((r) => r.id);
    },

    async isEmpty() {
      // Every recorded order writes customer rows; pairs never exist without them.
      const rows = await db.select({ id: customerPurchases.customerId }).from(customerPurchases).limit(1);
      return rows.length === 0;
    },
  };
}
