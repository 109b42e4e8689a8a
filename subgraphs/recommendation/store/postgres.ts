import path from 'node:path';
import { sql } from 'drizzle-orm';
import { compiledStatement, placeholder, type Database, type Db } from '../../../platform/db';
import { coalesced } from '../../../platform/coalesce';
import { eventRetentionWorker, expiredRows } from '../../../platform/event-retention';
import { processedInsertFrom } from '../../../platform/outbox';
import { aggregatePurchases, type Purchase } from '../co-purchases';
import type { OrderNote, RecommendationStore } from './port';
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

/** One order event as note-order-event takes it. */
interface OrderEventNote {
  consumer: string;
  message_id: string;
  order_id: string;
  /** Who placed the order, with the products it holds: from OrderPlaced, null from OrderConfirmed. */
  customer_id: string | null;
  product_ids: string[] | null;
  confirmed: boolean;
}

type NoteOrderEventsValues = {
  /** The notes as a JSON array of OrderEventNote, each order once. */
  notes: string;
};

/**
 * note-order-event (see `noteOrderEvent`), built once: the events of many orders in one
 * statement, each order once. Per event it records the message, notes the fact on the order's
 * row and, when the row then holds both facts, records the purchase; it answers each message
 * with whether it was new and whether its order's purchase was recorded.
 */
const noteOrderEventsStatement = compiledStatement<NoteOrderEventsValues>(() => {
  const p = placeholder<NoteOrderEventsValues>;
  return sql`
    -- name: note-order-event
    with note as (
      select * from rows from (
        jsonb_to_recordset(${p('notes')}::jsonb)
          as (consumer text, message_id text, order_id text, customer_id text, product_ids text[], confirmed boolean)
      ) with ordinality as n(consumer, message_id, order_id, customer_id, product_ids, confirmed, ordinal)
    ),
    processed as (
      ${processedInsertFrom({ processedMessages }, 'note')}
    ),
    noted as (
      insert into ${orderEvents} as o (order_id, customer_id, product_ids, confirmed)
      select note.order_id, note.customer_id, note.product_ids, note.confirmed
      from note join processed using (consumer, message_id)
      order by note.order_id collate "C"
      on conflict (order_id) do update set
        customer_id = coalesce(excluded.customer_id, o.customer_id),
        product_ids = coalesce(excluded.product_ids, o.product_ids),
        confirmed = o.confirmed or excluded.confirmed,
        recorded = (o.confirmed or excluded.confirmed) and coalesce(excluded.customer_id, o.customer_id) is not null,
        noted_at = now()
      where not o.recorded
      returning order_id, customer_id, product_ids, recorded
    ),
    bought as (
      select distinct noted.order_id, noted.customer_id, product.id
      from noted, unnest(noted.product_ids) as product(id)
      where noted.recorded
    ),
    customer_totals as (
      insert into ${customerPurchases} (customer_id, product_id, quantity)
      select customer_id, id, count(*) from bought
      group by customer_id, id
      order by customer_id collate "C", id collate "C"
      on conflict (customer_id, product_id) do update set quantity = customer_purchases.quantity + excluded.quantity
      returning product_id
    ),
    pair_totals as (
      insert into ${coPurchases} (product_id, other_product_id, weight)
      select one.id, other.id, count(*) from bought as one join bought as other on other.order_id = one.order_id and other.id <> one.id
      group by one.id, other.id
      order by one.id collate "C", other.id collate "C"
      on conflict (product_id, other_product_id) do update set weight = co_purchases.weight + excluded.weight
      returning product_id
    )
    select processed.message_id is not null as processed, coalesce(noted.recorded, false) as recorded
    from note
    left join processed using (consumer, message_id)
    left join noted on noted.order_id = note.order_id
    order by note.ordinal`;
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
  // The events a read of the bus hands its handlers side by side, one per order, are noted in one
  // statement, so no transaction: it records each message, notes the fact on the order's row and,
  // when the row then holds both facts, records the purchase. The upsert locks the order's row,
  // so OrderPlaced and OrderConfirmed handled at once (by two replicas) serialize on it, and its
  // condition reads the row as the one before committed it: exactly one of them finds both facts
  // on a row not yet recorded. Once recorded, the row is left alone. Every writer takes its row
  // locks in key order (collate "C"): messages, then orders, then the totals.
  const noteOrderEvent = coalesced(
    async (calls: readonly { consumer: string; messageId: string; note: OrderNote }[]) => {
      const notes = calls.map(({ consumer, messageId, note }): OrderEventNote => {
        const placed = note.kind === 'placed';
        return {
          consumer,
          message_id: messageId,
          order_id: note.orderId,
          customer_id: placed ? note.customerId : null,
          product_ids: placed ? [...note.productIds] : null,
          confirmed: !placed,
        };
      });
      const rows = await noteOrderEventsStatement<{ processed: boolean; recorded: boolean }>(database.db, { notes: JSON.stringify(notes) });
      // A row per note, in their order: each order is in the notes once.
      return rows.map((row): 'duplicate' | 'noted' | 'recorded' => (!row.processed ? 'duplicate' : row.recorded ? 'recorded' : 'noted'));
    },
    // The statement's upsert may touch an order's row once: a second event of the same order waits for the next statement.
    { key: ({ note }) => note.orderId },
  );
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,
    transactionCount: () => transactions,

    // An order's row goes with the records of the messages that made it: a redelivery older than
    // both could not be told apart from a new event, and none comes that late.
    eventRetention: (config, logger) =>
      eventRetentionWorker('recommendation', database, { processedMessages }, config, logger, [
        expiredRows('order_events', orderEvents, sql`noted_at`, config.PROCESSED_MESSAGE_RETENTION_SECONDS),
      ]),

    recordPurchase: (customerId, productIds) => recordPurchases([{ customerId, productIds }]),
    recordPurchases,

    noteOrderEvent: (consumer, messageId, note) => noteOrderEvent({ consumer, messageId, note }),

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
