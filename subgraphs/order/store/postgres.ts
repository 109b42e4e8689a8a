import path from 'node:path';
import { and, asc, desc, eq, getTableColumns, inArray, lte, sql, type Placeholder, type SQL } from 'drizzle-orm';
import { coalesced } from '../../../platform/coalesce';
import { outboxInsert, outboxInsertOf, outboxValues, processedInsertFrom, type OutboxValues } from '../../../platform/outbox';
import { compiledStatement, placeholder, rowsOf, type Database, type Db } from '../../../platform/db';
import type {
  CartChange,
  CartLimits,
  CartLineRecord,
  ConsumedMessage,
  NewOrder,
  OrderChangeOutcome,
  OrderEventRule,
  OrderRecord,
  OrderStore,
  Placement,
  PlacementOutcome,
} from './port';
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

/** Orders as the rows `jsonb_to_recordset` reads in `insertOrdersSql`. */
function orderRows(list: readonly NewOrder[]) {
  return list.map((order) => ({
    id: order.id,
    customer_id: order.customerId,
    status: order.status,
    currency: order.currency,
    total_amount: order.totalAmount,
    shipping_address: order.shippingAddress,
    failure_reason: order.failureReason ?? null,
    placed_at: order.placedAt.toISOString(),
  }));
}

/** The lines of orders, numbered, as the rows `jsonb_to_recordset` reads in `insertOrderLinesSql`. */
function orderLineRows(list: readonly NewOrder[]) {
  return list.flatMap((order) =>
    order.lines.map((line, index) => ({
      order_id: order.id,
      line_no: index + 1,
      product_id: line.productId,
      quantity: line.quantity,
      unit_price_amount: line.unitPriceAmount,
    })),
  );
}

// Rows travel as one JSON parameter: multi-row VALUES cost far more to build and to parse
// (seconds for a few thousand rows), and this stays clear of the bind-parameter limit.
// `guard` is a condition every row needs, for use inside a larger statement.

/** `rows` is the JSON text of `orderRows`, as a value or a compiled statement's placeholder. */
function insertOrdersSql(rows: SQL | Placeholder, guard: SQL = sql`true`): SQL {
  return sql`insert into ${orders} (id, customer_id, status, currency, total_amount, shipping_address, failure_reason, placed_at)
    select id, customer_id, status, currency, total_amount, shipping_address, failure_reason, placed_at
    from jsonb_to_recordset(${rows}::jsonb) as r(
      id text, customer_id text, status text, currency char(3), total_amount integer,
      shipping_address jsonb, failure_reason text, placed_at timestamptz)
    where ${guard}`;
}

/** `rows` is the JSON text of `orderLineRows`, as a value or a compiled statement's placeholder. */
function insertOrderLinesSql(rows: SQL | Placeholder, guard: SQL = sql`true`): SQL {
  return sql`insert into ${orderLines} (order_id, line_no, product_id, quantity, unit_price_amount)
    select order_id, line_no, product_id, quantity, unit_price_amount
    from jsonb_to_recordset(${rows}::jsonb) as r(
      order_id text, line_no integer, product_id text, quantity integer, unit_price_amount integer)
    where ${guard}`;
}

/** Writes orders and their lines inside the caller's transaction, in chunks. */
async function writeOrders(tx: Db, list: readonly NewOrder[]): Promise<void> {
  for (let i = 0; i < list.length; i += ORDER_CHUNK) {
    const chunk = list.slice(i, i + ORDER_CHUNK);
    await tx.execute(sql`-- name: insert-orders
      ${insertOrdersSql(sql`${JSON.stringify(orderRows(chunk))}`)}`);
    await tx.execute(sql`-- name: insert-order-lines
      ${insertOrderLinesSql(sql`${JSON.stringify(orderLineRows(chunk))}`)}`);
  }
}

/** An order row as raw SQL returns it (timestamps as text on both drivers). */
interface OrderRow {
  id: string;
  customer_id: string;
  status: OrderRecord['status'];
  currency: string;
  total_amount: number;
  shipping_address: OrderRecord['shippingAddress'];
  failure_reason: OrderRecord['failureReason'];
  placed_at: string | Date;
  updated_at: string | Date;
}

function orderOf(row: OrderRow): OrderRecord {
  return {
    id: row.id,
    customerId: row.customer_id,
    status: row.status,
    currency: row.currency,
    totalAmount: Number(row.total_amount),
    shippingAddress: row.shipping_address,
    failureReason: row.failure_reason,
    placedAt: new Date(row.placed_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** Creates the customer's cart if needed and locks its row: changes of one cart take turns. */
async function lockCart(tx: Db, customerId: string): Promise<void> {
  // lock-cart
  await tx
    .insert(carts)
    .values({ customerId })
    .onConflictDoUpdate({ target: carts.customerId, set: { updatedAt: sql`now()` } });
}

/** One change of a cart line: `add` units to it, or `set` them (0 removes the line). */
interface LineChange {
  customerId: string;
  productId: string;
  quantity: number;
  mode: 'add' | 'set';
  limits: CartLimits;
}

/** What the change-cart-line statement answers; `stale` when the cart changed after its snapshot (nothing was written). */
type LineChangeAnswer = CartChange | { outcome: 'stale' };

type CartLineValues = { customerId: string; productId: string; quantity: number; maxQuantity: number; maxLines: number };

/**
 * change-cart-line, for `add` or `set`: a cart change as one statement. It reads the cart's
 * version and lines, takes the cart's lock by raising the version only where the version is
 * still the one it read, and decides and writes only then: the lines it read are the cart as
 * it is, since every change of them raises the version under the same lock. Otherwise it
 * writes nothing and answers `stale`. It answers the cart's lines after the change.
 */
function cartLineStatement(mode: LineChange['mode']) {
  return compiledStatement<CartLineValues>(() => {
    const p = placeholder<CartLineValues>;
    const held = sql`(select quantity from held where product_id = ${p('productId')}::text)`;
    const after = mode === 'add' ? sql`coalesce(${held}, 0) + ${p('quantity')}::int` : sql`${p('quantity')}::int`;
    const updated = mode === 'add' ? sql`${cartLines}.quantity + excluded.quantity` : sql`excluded.quantity`;
    return sql`-- name: change-cart-line
      with seen as (
        select coalesce((select version from ${carts} where customer_id = ${p('customerId')}::text), -1) as version
      ),
      held as (
        select product_id, quantity, added_at from ${cartLines} where customer_id = ${p('customerId')}::text
      ),
      verdict as (
        select case
          when ${after} > ${p('maxQuantity')}::int then 'too-many-units'
          when ${p('quantity')}::int > 0 and ${held} is null and (select count(*) from held) >= ${p('maxLines')}::int then 'too-many-lines'
          else 'changed'
        end as outcome
      ),
      cart as (
        insert into ${carts} as c (customer_id, version)
        select ${p('customerId')}::text, version + 1 from seen
        on conflict (customer_id) do update set version = c.version + 1, updated_at = now()
          where c.version = excluded.version - 1
        returning customer_id
      ),
      go as (
        select 1 from cart, verdict where verdict.outcome = 'changed'
      ),
      written as (
        insert into ${cartLines} (customer_id, product_id, quantity)
        select ${p('customerId')}::text, ${p('productId')}::text, ${p('quantity')}::int from go where ${p('quantity')}::int > 0
        on conflict (customer_id, product_id) do update set quantity = ${updated}
        returning product_id, quantity, added_at
      ),
      removed as (
        delete from ${cartLines}
        where customer_id = ${p('customerId')}::text and product_id = ${p('productId')}::text and ${p('quantity')}::int = 0 and exists (select 1 from go)
      )
      select
        case when exists (select 1 from cart) then verdict.outcome else 'stale' end as outcome,
        (
          select coalesce(json_agg(json_build_object('productId', product_id, 'quantity', quantity, 'addedAt', added_at)
            order by added_at, product_id), '[]'::json)
          from (
            select product_id, quantity, added_at from held where product_id <> ${p('productId')}::text or not exists (select 1 from go)
            union all
            select product_id, quantity, added_at from written
          ) as lines
        ) as lines
      from verdict`;
  });
}

const changeCartLineStatements = { add: cartLineStatement('add'), set: cartLineStatement('set') };

async function changeCartLine(db: Db, change: LineChange): Promise<LineChangeAnswer> {
  const { customerId, productId, quantity, limits } = change;
  const [answer] = await changeCartLineStatements[change.mode]<{
    outcome: LineChangeAnswer['outcome'];
    lines: { productId: string; quantity: number; addedAt: string }[];
  }>(db, { customerId, productId, quantity, maxQuantity: limits.maxQuantity, maxLines: limits.maxLines });
  if (!answer) throw new Error('change-cart-line answered no row');
  if (answer.outcome !== 'changed') return { outcome: answer.outcome };
  const lines: CartLineRecord[] = answer.lines.map((line) => ({
    customerId,
    productId: line.productId,
    quantity: Number(line.quantity),
    addedAt: new Date(line.addedAt),
  }));
  return { outcome: 'changed', lines };
}

/**
 * A cart change in one statement; if another change of the cart committed in between, once
 * more under the cart's lock, where it cannot be stale.
 */
async function changeCart(db: Db, change: LineChange): Promise<CartChange> {
  const answer = await changeCartLine(db, change);
  if (answer.outcome !== 'stale') return answer;
  return db.transaction(async (tx) => {
    await lockCart(tx as unknown as Db, change.customerId);
    const locked = await changeCartLine(tx as unknown as Db, change);
    if (locked.outcome === 'stale') throw new Error(`cart of ${change.customerId} changed under its lock`);
    return locked;
  });
}

type PlaceOrderValues = OutboxValues & {
  customerId: string;
  /** The cart as priced: product id to units, as a JSON object. */
  priced: string;
  idempotencyKey: string;
  requestHash: string;
  orderId: string;
  /** The order as `orderRows` JSON. */
  orders: string;
  /** Its lines as `orderLineRows` JSON. */
  lines: string;
};

/**
 * place-order: a checkout as one statement. Takes the cart's lock by raising its version only
 * where the version is still the one read and the lines read are exactly what was priced (so
 * they are the cart as it is, see `changeCartLine`), then claims the idempotency key and, only
 * if it was free, writes the order, its lines and its events and empties the cart. A claimed
 * key is never left behind without its order.
 */
const placeOrderStatement = compiledStatement<PlaceOrderValues>(() => {
  const p = placeholder<PlaceOrderValues>;
  const claimed = sql`exists (select 1 from claim)`;
  return sql`-- name: place-order
    with cart as (
      update ${carts} set version = version + 1, updated_at = now()
      where customer_id = ${p('customerId')}::text
        and version = (select version from ${carts} where customer_id = ${p('customerId')}::text)
        and (
          select coalesce(jsonb_object_agg(product_id, quantity), '{}'::jsonb) from ${cartLines}
          where customer_id = ${p('customerId')}::text
        ) = ${p('priced')}::jsonb
      returning customer_id
    ),
    claim as (
      insert into ${idempotencyKeys} (customer_id, key, request_hash, order_id)
      select customer_id, ${p('idempotencyKey')}::text, ${p('requestHash')}::text, ${p('orderId')}::text from cart
      on conflict do nothing
      returning order_id
    ),
    placed as (
      ${insertOrdersSql(p('orders'), claimed)}
      returning *
    ),
    placed_lines as (
      ${insertOrderLinesSql(p('lines'), claimed)}
    ),
    emptied as (
      delete from ${cartLines} where customer_id = ${p('customerId')}::text and ${claimed}
    ),
    announced as (
      ${outboxInsertOf(tables, claimed)}
    )
    select exists (select 1 from cart) as locked, placed.*
    from (select 1) as one left join placed on true`;
});

/** What the place-order statement answers: whether it held the cart as priced, and the order if it placed one. */
interface PlaceAnswer {
  locked: boolean;
  order: OrderRecord | null;
}

async function placeOnce(db: Db, placement: Placement): Promise<PlaceAnswer> {
  const { order } = placement;
  const [row] = await placeOrderStatement<OrderRow & { locked: boolean; id: string | null }>(db, {
    ...outboxValues(placement.events),
    customerId: order.customerId,
    priced: JSON.stringify(Object.fromEntries(placement.cart.map((line) => [line.productId, line.quantity]))),
    idempotencyKey: placement.idempotencyKey,
    requestHash: placement.requestHash,
    orderId: order.id,
    orders: JSON.stringify(orderRows([order])),
    lines: JSON.stringify(orderLineRows([order])),
  });
  if (!row) throw new Error('place-order answered no row');
  return { locked: Boolean(row.locked), order: row.id === null ? null : orderOf(row) };
}

async function idempotencyRecordOf(db: Db, customerId: string, key: string) {
  // idempotency-record: a new statement sees a key another checkout committed meanwhile.
  const [record] = await db
    .select(idempotencyColumns)
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.customerId, customerId), eq(idempotencyKeys.key, key)));
  return record ?? null;
}

/** Saga events as apply-order-event takes them: one array per field, an element per event, each order once; then their announcements. */
type ApplyOrderEventValues = OutboxValues & {
  consumers: string[];
  messageIds: string[];
  orderIds: string[];
  /** Each event's rule: its moves as a JSON object, status to status. */
  moves: string[];
  failureReasons: (string | null)[];
};

/**
 * apply-order-event (`OrderStore.applyEvent`), for the events of many orders at once, each
 * order once: records each message, and only if it is new moves its order with a
 * compare-and-set that the server re-evaluates under the row lock of a change committed
 * meanwhile, so the move is always from the status as it is; writes an order's announcements
 * (the outbox rows whose aggregate is that order) only with its change. Answers, per event,
 * the order as changed, or as it is. Messages, then orders, are locked in key order.
 */
const applyOrderEvents = compiledStatement<ApplyOrderEventValues>(() => {
  const p = placeholder<ApplyOrderEventValues>;
  return sql`-- name: apply-order-event
    with event as (
      select * from unnest(${p('consumers')}::text[], ${p('messageIds')}::text[], ${p('orderIds')}::text[], ${p('moves')}::text[], ${p('failureReasons')}::text[])
        with ordinality as v(consumer, message_id, order_id, moves, failure_reason, ordinal)
    ),
    marked as (
      ${processedInsertFrom(tables, 'event')}
    ),
    changed as (
      update ${orders} as o
      set status = e.moves ->> o.status,
        failure_reason = coalesce(e.failure_reason, o.failure_reason),
        updated_at = now()
      from (
        select event.order_id, event.moves::jsonb as moves, event.failure_reason
        from event join marked using (consumer, message_id)
        order by event.order_id collate "C"
      ) as e
      where o.id = e.order_id and (e.moves ->> o.status) is not null
      returning o.*
    ),
    announced as (
      ${outboxInsertOf(tables, sql`exists (select 1 from changed where changed.id = e.aggregate_id)`)}
    )
    select marked.message_id is not null as fresh, exists (select 1 from changed where changed.id = event.order_id) as changed, o.*
    from event
    left join marked using (consumer, message_id)
    left join lateral (
      select * from changed where changed.id = event.order_id
      union all
      -- Locking waits for a change in progress and reads the order as it committed, not as this statement's snapshot saw it.
      select * from (
        select * from ${orders}
        where id = event.order_id and not exists (select 1 from changed where changed.id = event.order_id)
        for share
      ) as current
    ) as o on true
    order by event.ordinal`;
});

/** Orders on PostgreSQL, the same code on PGlite and on a server. */
export function postgresOrderStore(database: Database): OrderStore {
  const { db } = database;
  // The reads every checkout and watcher makes, built once (drizzle prepared queries), not per call.
  // A read of one order or one cart, as nearly every request makes, has a statement of its own: the
  // server plans a statement over an array of ids afresh on every call (the plan it would keep
  // assumes ten ids, and looks costlier than one planned for the single id it was given), and one
  // over a single id once per connection.
  // orders-by-ids
  const ordersById = db
    .select()
    .from(orders)
    .where(sql`${orders.id} = any(${sql.placeholder('ids')}::text[])`)
    .prepare('orders_by_ids');
  // order-by-id
  const orderById = db.select().from(orders).where(eq(orders.id, sql.placeholder('id'))).prepare('order_by_id');
  // cart-lines-of-customers
  const cartLinesByCustomer = db
    .select()
    .from(cartLines)
    .where(sql`${cartLines.customerId} = any(${sql.placeholder('customerIds')}::text[])`)
    .orderBy(asc(cartLines.customerId), asc(cartLines.addedAt), asc(cartLines.productId))
    .prepare('cart_lines_of_customers');
  // cart-lines-of-customer
  const cartLinesOfCustomer = db
    .select()
    .from(cartLines)
    .where(eq(cartLines.customerId, sql.placeholder('customerId')))
    .orderBy(asc(cartLines.addedAt), asc(cartLines.productId))
    .prepare('cart_lines_of_customer');
  // idempotency-record: a new statement sees a key another checkout committed meanwhile.
  const idempotencyRecordByKey = db
    .select(idempotencyColumns)
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.customerId, sql.placeholder('customerId')), eq(idempotencyKeys.key, sql.placeholder('key'))))
    .prepare('idempotency_record');
  // The saga events a read of the bus hands its handlers side by side, one per order, are applied in one statement.
  const applyEvent = coalesced(
    async (calls: readonly { orderId: string; rule: OrderEventRule; consumed: ConsumedMessage }[]): Promise<OrderChangeOutcome[]> => {
      for (const { orderId, rule } of calls) {
        const stranger = rule.events.find((event) => event.aggregateId !== orderId);
        // The statement writes an order's announcements with its change, found by their aggregate.
        if (stranger) throw new Error(`event ${stranger.id} announced with order ${orderId} is about ${stranger.aggregateId}`);
      }
      const rows = await applyOrderEvents<Partial<OrderRow> & { fresh: boolean; changed: boolean }>(db, {
        ...outboxValues(calls.flatMap(({ rule }) => rule.events)),
        consumers: calls.map(({ consumed }) => consumed.consumer),
        messageIds: calls.map(({ consumed }) => consumed.messageId),
        orderIds: calls.map(({ orderId }) => orderId),
        moves: calls.map(({ rule }) => JSON.stringify(rule.moves)),
        failureReasons: calls.map(({ rule }) => rule.failureReason),
      });
      return rows.map((row): OrderChangeOutcome => {
        if (!row.fresh) return { kind: 'duplicate' };
        const order = row.id ? orderOf(row as OrderRow) : null;
        if (row.changed) return { kind: 'changed', order: order! };
        return { kind: 'unchanged', order };
      });
    },
    // The statement's update may touch an order's row once: a second event of the same order waits for the next statement.
    { key: ({ orderId }) => orderId },
  );
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,
    outbox: { database, tables },

    async ordersByIds(ids) {
      if (ids.length === 0) return [];
      if (ids.length === 1) return orderById.execute({ id: ids[0] });
      return ordersById.execute({ ids: [...ids] });
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

    async changeOrder(orderId, decide): Promise<OrderChangeOutcome> {
      return db.transaction(async (transaction): Promise<OrderChangeOutcome> => {
        const tx = transaction as unknown as Db;
        // order-for-change: the row lock makes concurrent changes decide one after another.
        const [row] = rowsOf<OrderRow>(
          await tx.execute(sql`-- name: order-for-change
            select * from ${orders} where id = ${orderId}::text for update`),
        );
        const order = row ? orderOf(row) : null;
        const change = decide(order);
        if (!change) return { kind: 'unchanged', order };
        if (!order) throw new Error(`a change was decided for order ${orderId}, which does not exist`);
        // order-change: the status compare-and-set always matches under the lock; it guards the rule, not the race.
        const announce = change.events.length > 0 ? sql`, announced as (${outboxInsert(tables, change.events, sql`exists (select 1 from changed)`)})` : sql``;
        const [updated] = rowsOf<OrderRow>(
          await tx.execute(sql`-- name: order-change
            with changed as (
              update ${orders} set status = ${change.next}::text, failure_reason = ${change.failureReason}::text, updated_at = now()
              where id = ${orderId}::text and status = ${order.status}::text
              returning *
            )${announce}
            select * from changed`),
        );
        if (!updated) throw new Error(`order ${orderId} changed under its row lock`);
        return { kind: 'changed', order: orderOf(updated) };
      });
    },

    applyEvent: (orderId, rule, consumed) => applyEvent({ orderId, rule, consumed }),

    async cartLinesOf(customerIds) {
      if (customerIds.length === 0) return [];
      if (customerIds.length === 1) return cartLinesOfCustomer.execute({ customerId: customerIds[0] });
      return cartLinesByCustomer.execute({ customerIds: [...customerIds] });
    },

    addToCart(customerId, productId, quantity, limits) {
      return changeCart(db, { customerId, productId, quantity, mode: 'add', limits });
    },

    async setCartLine(customerId, productId, quantity, limits) {
      if (quantity > limits.maxQuantity) return { outcome: 'too-many-units' };
      return changeCart(db, { customerId, productId, quantity, mode: 'set', limits });
    },

    async idempotencyRecord(customerId, key) {
      const [record] = await idempotencyRecordByKey.execute({ customerId, key });
      return record ?? null;
    },

    async placeOrder(placement): Promise<PlacementOutcome> {
      const { customerId } = placement.order;
      const first = await placeOnce(db, placement);
      if (first.order) return { kind: 'placed', order: first.order };
      if (!first.locked) {
        // The cart changed after the statement's snapshot, or is not what was priced: decide
        // again under the cart's lock, where the lines read are the cart as it is.
        const locked = await db.transaction(async (transaction) => {
          const tx = transaction as unknown as Db;
          // lock-cart-for-checkout
          await tx.select({ customerId: carts.customerId }).from(carts).where(eq(carts.customerId, customerId)).for('update');
          const again = await placeOnce(tx, placement);
          if (again.order) return { kind: 'placed' as const, order: again.order };
          // Whether or not the cart still matches, a used key answers with its record; only a
          // checkout holding the cart's lock writes a key, so a new statement sees any there is.
          const record = await idempotencyRecordOf(tx, customerId, placement.idempotencyKey);
          return record ? { kind: 'key-used' as const, record } : { kind: 'cart-changed' as const };
        });
        return locked;
      }
      // The cart was as priced but the key was taken: by a checkout that committed before this
      // one took the cart's lock, so a new statement sees its record.
      const record = await idempotencyRecordOf(db, customerId, placement.idempotencyKey);
      if (!record) throw new Error('idempotency key conflicted but its record is missing');
      return { kind: 'key-used', record };
    },

    async hasOrders() {
      // orders-exist
      const [row] = await db.select({ id: orders.id }).from(orders).limit(1);
      return row !== undefined;
    },
  };
}
