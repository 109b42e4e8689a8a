import path from 'node:path';
import { sql } from 'drizzle-orm';
import { compiledStatement, placeholder, type Database, type Db } from '../../../platform/db';
import { processedInsertOf } from '../../../platform/outbox';
import { aggregatePurchases, type Purchase } from '../co-purchases';
import type { RecommendationStore } from './port';
import { coPurchases, customerPurchases, orderEvents, processedMessages } from './schema';

export const RECOMMENDATION_SCHEMA = 'recommendation';
export const RECOMMENDATION_MIGRATIONS = path.join(__dirname, 'migrations');

/** Rows per upsert: each statement ships three arrays, so only memory bounds it. */
const UPSERT_CHUNK = 5000;

type Executor = Pick<Db, 'execute'>;

/** One whole-array parameter, not a list expanded into one parameter per element. */
const array = (values: readonly (string | number)[] | null) => sql.param(values);

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

type NoteOrderEventValues = {
  consumer: string;
  messageId: string;
  orderId: string;
  /** Who placed the order, with the products it holds: from OrderPlaced, null from OrderConfirmed. */
  customerId: string | null;
  productIds: string[] | null;
  confirmed: boolean;
};

/** note-order-event (see `noteOrderEvent`), built once. */
const noteOrderEventStatement = compiledStatement<NoteOrderEventValues>(() => {
  const p = placeholder<NoteOrderEventValues>;
  return sql`
    -- name: note-order-event
    with processed as (
      ${processedInsertOf({ processedMessages })}
    ),
    noted as (
      insert into ${orderEvents} as o (order_id, customer_id, product_ids, confirmed)
      select ${p('orderId')}::text, ${p('customerId')}::text, ${p('productIds')}::text[], ${p('confirmed')}::boolean
      from processed
      on conflict (order_id) do update set
        customer_id = coalesce(excluded.customer_id, o.customer_id),
        product_ids = coalesce(excluded.product_ids, o.product_ids),
        confirmed = o.confirmed or excluded.confirmed,
        recorded = (o.confirmed or excluded.confirmed) and coalesce(excluded.customer_id, o.customer_id) is not null
      where not o.recorded
      returning customer_id, product_ids, recorded
    ),
    bought as (
      select distinct noted.customer_id, product.id
      from noted, unnest(noted.product_ids) as product(id)
      where noted.recorded
    ),
    customer_totals as (
      insert into ${customerPurchases} (customer_id, product_id, quantity)
      select customer_id, id, 1 from bought
      order by customer_id collate "C", id collate "C"
      on conflict (customer_id, product_id) do update set quantity = customer_purchases.quantity + excluded.quantity
      returning product_id
    ),
    pair_totals as (
      insert into ${coPurchases} (product_id, other_product_id, weight)
      select one.id, other.id, 1 from bought as one join bought as other on other.id <> one.id
      order by one.id collate "C", other.id collate "C"
      on conflict (product_id, other_product_id) do update set weight = co_purchases.weight + excluded.weight
      returning product_id
    )
    select exists (select from processed) as processed, coalesce((select recorded from noted), false) as recorded`;
});

/**
 * Recommendations on PostgreSQL tables, the same code on PGlite and on a server.
 * Ties are broken by id in byte order (`collate "C"`) so every server ranks alike.
 */
export function postgresRecommendationStore(database: Database): RecommendationStore {
  const { db } = database;
  let transactions = 0;
  const recordPurchases = async (purchases: readonly Purchase[]) => {
    if (!purchases.some((p) => p.productIds.length > 0)) return;
    transactions += 1;
    await db.transaction((tx) => addTotals(tx, purchases));
  };
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,
    transactionCount: () => transactions,

    recordPurchase: (customerId, productIds) => recordPurchases([{ customerId, productIds }]),
    recordPurchases,

    async noteOrderEvent(consumer, messageId, note) {
      const placed = note.kind === 'placed';
      // One statement, so no transaction: it records the message, notes the fact on the order's
      // row and, when the row then holds both facts, records the purchase. The upsert locks the
      // order's row, so OrderPlaced and OrderConfirmed handled at once serialize on it, and its
      // condition reads the row as the one before committed it: exactly one of them finds both
      // facts on a row not yet recorded. Once recorded, the row is left alone. The totals are
      // added in key order (collate "C"), the order every writer of them takes its row locks in.
      const [row] = await noteOrderEventStatement<{ processed: boolean; recorded: boolean }>(database.db, {
        consumer,
        messageId,
        orderId: note.orderId,
        customerId: placed ? note.customerId : null,
        productIds: placed ? [...note.productIds] : null,
        confirmed: !placed,
      });
      if (!row?.processed) return 'duplicate';
      return row.recorded ? 'recorded' : 'noted';
    },

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
