import { sql, type SQL } from 'drizzle-orm';
import { domainEvent } from '../../../platform/events';
import { describeOnServer, storeBackends, testDeps } from '../../../platform/testing';
import type { CartLimits, OrderRecord, OrderStore, Placement } from '../store/port';
import { openOrderStore } from '../subgraph';
import { outboxEvents } from './helpers';
import { orderStoreContract } from './order-store.contract';

describe.each(storeBackends())('OrderStore on %s', (backend) => {
  orderStoreContract(async () => {
    const deps = await testDeps(backend, ['order']);
    const store = await openOrderStore(deps);
    return {
      store,
      release: async () => {
        await store.close();
        await deps.release();
      },
    };
  });
});

describe.each(storeBackends())('round trips of the PostgreSQL order store on %s', (backend) => {
  let store: OrderStore;
  let release: () => Promise<void>;
  const limits: CartLimits = { maxQuantity: 99, maxLines: 3 };

  beforeAll(async () => {
    // `racedBy` needs three connections at once: the transaction holding the cart's lock, the
    // operation waiting on it, and the query that sees it wait.
    const deps = await testDeps(backend, ['order'], { DB_POOL_SIZE: '3' });
    store = await openOrderStore(deps);
    release = async () => {
      await store.close();
      await deps.release();
    };
  });
  afterAll(() => release());

  /** Statements sent, and transactions opened, while `work` runs. */
  async function roundTrips<T>(work: () => Promise<T>): Promise<{ statements: number; transactions: number; result: T }> {
    const transactions = jest.spyOn(store.outbox.database.db, 'transaction');
    const before = store.statementCount();
    try {
      const result = await work();
      return { statements: store.statementCount() - before, transactions: transactions.mock.calls.length, result };
    } finally {
      transactions.mockRestore();
    }
  }

  /**
   * Runs `operation` while another transaction makes `changes` holding the cart's lock, and
   * commits them only once the operation waits on that lock (on a server; PGlite runs one
   * transaction at a time, so there the operation simply runs after the commit).
   */
  async function racedBy<T>(changes: SQL[], operation: () => Promise<T>): Promise<T> {
    const { database } = store.outbox;
    let running: Promise<T> | undefined;
    await database.db.transaction(async (tx) => {
      for (const change of changes) await tx.execute(change);
      running = operation();
      running.catch(() => {});
      if (database.kind !== 'postgres') return;
      const until = Date.now() + 5000;
      // test-lock-waiters
      while ((await database.rows<{ n: number }>(sql`select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`))[0]!.n === 0) {
        if (Date.now() > until) throw new Error('the operation never waited on the cart');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    });
    return running!;
  }

  const lineChange = (customerId: string, productId: string, quantity: number) => [
    sql`update "orders"."carts" set version = version + 1 where customer_id = ${customerId}`,
    sql`insert into "orders"."cart_lines" (customer_id, product_id, quantity) values (${customerId}, ${productId}, ${quantity})
      on conflict (customer_id, product_id) do update set quantity = excluded.quantity`,
  ];

  function placement(customerId: string, key: string, cart: [string, number][]): Placement {
    const id = `counted-${customerId}-${key}`;
    return {
      order: {
        id,
        customerId,
        status: 'PENDING',
        currency: 'USD',
        totalAmount: cart.reduce((sum, [, q]) => sum + q * 100, 0),
        shippingAddress: null,
        placedAt: new Date('2024-07-01T00:00:00Z'),
        lines: cart.map(([productId, quantity]) => ({ productId, quantity, unitPriceAmount: 100 })),
      },
      idempotencyKey: key,
      requestHash: 'hash',
      cart: cart.map(([productId, quantity]) => ({ productId, quantity })),
      events: [domainEvent('OrderConfirmed', id, { orderId: id })],
    };
  }

  it('changes a cart in one statement outside a transaction, answering its lines after the change', async () => {
    const added = await roundTrips(() => store.addToCart('rt-a', 'p-1', 2, limits));
    expect(added).toMatchObject({ statements: 1, transactions: 0 });
    expect(await roundTrips(() => store.addToCart('rt-a', 'p-2', 1, limits))).toMatchObject({ statements: 1, transactions: 0 });
    const more = await roundTrips(() => store.addToCart('rt-a', 'p-1', 3, limits));
    expect(more).toMatchObject({ statements: 1, transactions: 0 });
    expect(more.result).toEqual({ outcome: 'changed', lines: await store.cartLinesOf(['rt-a']) });
    expect(more.result.outcome === 'changed' && more.result.lines.map((l) => [l.productId, l.quantity])).toEqual([
      ['p-1', 5],
      ['p-2', 1],
    ]);
    expect(await roundTrips(() => store.addToCart('rt-a', 'p-1', 95, limits))).toMatchObject({
      statements: 1,
      transactions: 0,
      result: { outcome: 'too-many-units' },
    });
    const set = await roundTrips(() => store.setCartLine('rt-a', 'p-2', 0, limits));
    expect(set).toMatchObject({ statements: 1, transactions: 0 });
    expect(set.result).toEqual({ outcome: 'changed', lines: await store.cartLinesOf(['rt-a']) });
  });

  it('places an order in one statement outside a transaction, answering the order as stored', async () => {
    await store.addToCart('rt-b', 'p-1', 2, limits);
    const p = placement('rt-b', 'k-1', [['p-1', 2]]);
    const placed = await roundTrips(() => store.placeOrder(p));
    expect(placed).toMatchObject({ statements: 1, transactions: 0 });
    expect(placed.result).toEqual({ kind: 'placed', order: (await store.ordersByIds([p.order.id]))[0] });
    expect((await outboxEvents(store, p.order.id)).map((e) => e.id)).toEqual([p.events[0]!.id]);
  });

  it('changes an order for a shop action in one transaction of two statements', async () => {
    await store.insertOrders([{ ...placement('rt-c', 'k', [['p-1', 1]]).order }]);
    const id = placement('rt-c', 'k', []).order.id;
    const confirm = (order: OrderRecord | null) =>
      order && { next: 'CONFIRMED' as const, failureReason: null, events: [domainEvent('OrderConfirmed', order.id, { orderId: order.id })] };
    expect(await roundTrips(() => store.changeOrder(id, confirm))).toMatchObject({
      statements: 2,
      transactions: 1,
      result: { kind: 'changed', order: { id, status: 'CONFIRMED' } },
    });
  });

  it('applies a consumed saga event in one statement outside a transaction; its redelivery costs one too', async () => {
    const p = placement('rt-e', 'k', [['p-1', 1]]);
    await store.insertOrders([p.order]);
    const rule = {
      moves: { PENDING: 'CONFIRMED' } as const,
      failureReason: null,
      events: [domainEvent('OrderConfirmed', p.order.id, { orderId: p.order.id })],
    };
    const consumed = { consumer: 'test', messageId: 'rt-msg-e' };
    expect(await roundTrips(() => store.applyEvent(p.order.id, rule, consumed))).toMatchObject({
      statements: 1,
      transactions: 0,
      result: { kind: 'changed', order: { id: p.order.id, status: 'CONFIRMED' } },
    });
    expect(await roundTrips(() => store.applyEvent(p.order.id, rule, consumed))).toMatchObject({
      statements: 1,
      transactions: 0,
      result: { kind: 'duplicate' },
    });
  });

  it('applies a saga event from the status a change committed while it waited on the order', async () => {
    const p = placement('rt-f', 'k', [['p-1', 1]]);
    await store.insertOrders([p.order]);
    const expire = {
      moves: { PENDING: 'REJECTED', CONFIRMED: 'CANCELLED' } as const,
      failureReason: 'RESERVATION_EXPIRED' as const,
      events: [domainEvent('OrderRejected', p.order.id, { orderId: p.order.id, reason: 'RESERVATION_EXPIRED' })],
    };
    // Read before the confirmation commits, the order is PENDING and would be rejected; it is CONFIRMED by then.
    const outcome = await racedBy(
      [sql`update "orders"."orders" set status = 'CONFIRMED' where id = ${p.order.id}`],
      () => store.applyEvent(p.order.id, expire, { consumer: 'test', messageId: 'rt-msg-f' }),
    );
    expect(outcome).toMatchObject({ kind: 'changed', order: { status: 'CANCELLED', failureReason: 'RESERVATION_EXPIRED' } });
  });

  it('applies the saga events of several orders handled at once in one statement, each from the status it has', async () => {
    const [x, y, z, done] = ['rt-g1', 'rt-g2', 'rt-g3', 'rt-g4'].map((c) => placement(c, 'k', [['p-1', 1]]).order);
    await store.insertOrders([x!, y!, z!, { ...done!, status: 'DELIVERED' }]);
    const expire = (id: string) => ({
      moves: { PENDING: 'REJECTED', CONFIRMED: 'CANCELLED' } as const,
      failureReason: 'RESERVATION_EXPIRED' as const,
      events: [domainEvent('OrderRejected', id, { orderId: id, reason: 'RESERVATION_EXPIRED' })],
    });
    const apply = (id: string, messageId: string) => store.applyEvent(id, expire(id), { consumer: 'test', messageId });
    await apply(z!.id, 'rt-msg-g3');
    const together = await roundTrips(() =>
      Promise.all([apply(y!.id, 'rt-msg-g2'), apply(z!.id, 'rt-msg-g3'), apply(done!.id, 'rt-msg-g4'), apply('rt-missing', 'rt-msg-g5')]),
    );
    expect(together).toMatchObject({ statements: 1, transactions: 0 });
    expect(together.result).toEqual([
      { kind: 'changed', order: { ...(await store.ordersByIds([y!.id]))[0], status: 'REJECTED' } },
      { kind: 'duplicate' },
      { kind: 'unchanged', order: expect.objectContaining({ id: done!.id, status: 'DELIVERED' }) },
      { kind: 'unchanged', order: null },
    ]);
    // Only the orders that changed announce it, each once.
    expect((await outboxEvents(store, y!.id)).map((e) => e.type)).toEqual(['OrderRejected']);
    expect(await outboxEvents(store, z!.id)).toHaveLength(1);
    expect(await outboxEvents(store, done!.id)).toHaveLength(0);

    // While a change of x commits, x waits for its row and moves from the status that change left; the
    // other orders of the statement move as they are. The same order twice goes in a statement of its own.
    const w = placement('rt-g5', 'k', [['p-1', 1]]).order;
    await store.insertOrders([w]);
    const outcomes = await racedBy([sql`update "orders"."orders" set status = 'CONFIRMED' where id = ${x!.id}`], () =>
      Promise.all([apply(x!.id, 'rt-msg-g1'), apply(w.id, 'rt-msg-g6'), apply(x!.id, 'rt-msg-g1')]),
    );
    expect(outcomes).toMatchObject([
      { kind: 'changed', order: { id: x!.id, status: 'CANCELLED', failureReason: 'RESERVATION_EXPIRED' } },
      { kind: 'changed', order: { id: w.id, status: 'REJECTED' } },
      { kind: 'duplicate' },
    ]);
    expect((await outboxEvents(store, x!.id)).map((e) => e.type)).toEqual(['OrderRejected']);
  });

  it('decides a cart change on the cart as it is when another change commits while it waits', async () => {
    await store.addToCart('rt-d', 'p-1', 1, limits);
    // Read before the other change commits, the line would take 60 more units; it holds 50 by then.
    expect(await racedBy(lineChange('rt-d', 'p-1', 50), () => store.addToCart('rt-d', 'p-1', 60, limits))).toEqual({
      outcome: 'too-many-units',
    });
    const added = await racedBy(lineChange('rt-d', 'p-2', 1), () => store.addToCart('rt-d', 'p-1', 40, limits));
    expect(added.outcome === 'changed' && added.lines.map((l) => [l.productId, l.quantity])).toEqual([
      ['p-1', 90],
      ['p-2', 1],
    ]);
    expect(await racedBy(lineChange('rt-d', 'p-3', 1), () => store.addToCart('rt-d', 'p-4', 1, limits))).toEqual({
      outcome: 'too-many-lines',
    });
  });

  it('refuses a checkout when the cart changes while it waits on the cart, and places nothing', async () => {
    await store.addToCart('rt-e', 'p-1', 1, limits);
    const p = placement('rt-e', 'k-1', [['p-1', 1]]);
    expect(await racedBy(lineChange('rt-e', 'p-2', 1), () => store.placeOrder(p))).toEqual({ kind: 'cart-changed' });
    expect(await store.ordersByIds([p.order.id])).toEqual([]);
    expect(await store.idempotencyRecord('rt-e', 'k-1')).toBeNull();
    expect(await store.cartLinesOf(['rt-e'])).toHaveLength(2);
  });
});

describeOnServer('the PostgreSQL order store on a server, reading one order or one cart', () => {
  it('has the server plan each read once per connection, not on every call', async () => {
    // A pool of one: the statements prepared on the connection that answers the query below.
    const deps = await testDeps('postgres', ['order'], { DB_POOL_SIZE: '1' });
    const store = await openOrderStore(deps);
    try {
      for (let i = 0; i < 8; i++) {
        await store.cartLinesOf(['cart-one']);
        await store.ordersByIds(['order-one']);
      }
      // name: test-prepared-plans
      const plans = await store.outbox.database.rows<{ statement: string; generic: number; custom: number }>(sql`
        select statement, generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements
        where statement like '%from "orders"."cart_lines"%' or statement like '%from "orders"."orders"%'`);
      expect(plans).toHaveLength(2);
      // The server plans a statement for its first five calls, then keeps a generic plan if it costs no more.
      for (const plan of plans) expect(plan).toMatchObject({ generic: 3, custom: 5 });
    } finally {
      await store.close();
      await deps.release();
    }
  });
});
