import { domainEvent } from '../../../platform/events';
import type { CartLimits, NewOrder, OrderChange, OrderRecord, OrderStore, Placement } from '../store/port';
import { outboxEvents } from './helpers';

const address = {
  line1: 'Keizersgracht 1',
  line2: null,
  city: 'Amsterdam',
  region: null,
  postalCode: '1015 CJ',
  country: 'NL',
};

function order(id: string, customerId: string, placedAt: string, overrides: Partial<NewOrder> = {}): NewOrder {
  return {
    id,
    customerId,
    status: 'DELIVERED',
    currency: 'USD',
    totalAmount: 300,
    shippingAddress: address,
    placedAt: new Date(placedAt),
    lines: [
      { productId: 'p1', quantity: 1, unitPriceAmount: 100 },
      { productId: 'p2', quantity: 2, unitPriceAmount: 100 },
    ],
    ...overrides,
  };
}

/** What every OrderStore adapter must do; run against each available adapter. */
export function orderStoreContract(open: () => Promise<{ store: OrderStore; release(): Promise<void> }>) {
  let store: OrderStore;
  let release: () => Promise<void>;
  let emptyAtStart: boolean;

  beforeAll(async () => {
    ({ store, release } = await open());
    emptyAtStart = !(await store.hasOrders());
    await store.insertOrders([
      order('o-a1', 'cust-a', '2024-01-01T10:00:00Z'),
      order('o-a2', 'cust-a', '2024-03-01T10:00:00Z', { shippingAddress: null }),
      order('o-a3', 'cust-a', '2024-02-01T10:00:00Z'),
      // Same placed time as o-a2: the id breaks the tie, descending.
      order('o-a4', 'cust-a', '2024-03-01T10:00:00Z'),
      order('o-b1', 'cust-b', '2023-12-24T18:30:00Z', {
        currency: 'EUR',
        totalAmount: 4500,
        lines: [{ productId: 'p9', quantity: 3, unitPriceAmount: 1500 }],
      }),
    ]);
  });
  afterAll(() => release());

  it('answers ready', async () => {
    expect(await store.ready()).toBe(true);
  });

  it('starts empty and has orders once some are written', async () => {
    expect(emptyAtStart).toBe(true);
    expect(await store.hasOrders()).toBe(true);
  });

  it('reads orders by id with every field as written; unknown ids are absent', async () => {
    const found = await store.ordersByIds(['o-b1', 'o-a2', 'missing']);
    const byId = new Map(found.map((o) => [o.id, o]));
    expect([...byId.keys()].sort()).toEqual(['o-a2', 'o-b1']);
    expect(byId.get('o-b1')).toMatchObject({
      customerId: 'cust-b',
      status: 'DELIVERED',
      currency: 'EUR',
      totalAmount: 4500,
      shippingAddress: address,
      failureReason: null,
      placedAt: new Date('2023-12-24T18:30:00Z'),
    });
    expect(byId.get('o-b1')!.updatedAt).toBeInstanceOf(Date);
    expect(byId.get('o-a2')!.shippingAddress).toBeNull();
    expect(await store.ordersByIds([])).toEqual([]);
  });

  it('reads the lines of many orders in one statement, numbered in the order written', async () => {
    const before = store.statementCount();
    const lines = await store.linesOfOrders(['o-b1', 'o-a1', 'missing']);
    expect(store.statementCount() - before).toBe(1);
    expect(lines).toEqual([
      { orderId: 'o-a1', lineNo: 1, productId: 'p1', quantity: 1, unitPriceAmount: 100 },
      { orderId: 'o-a1', lineNo: 2, productId: 'p2', quantity: 2, unitPriceAmount: 100 },
      { orderId: 'o-b1', lineNo: 1, productId: 'p9', quantity: 3, unitPriceAmount: 1500 },
    ]);
  });

  it("reads many customers' newest orders in one statement, at most `first` each", async () => {
    const before = store.statementCount();
    const recent = await store.recentOrdersOfCustomers(['cust-b', 'cust-a', 'cust-none'], 3);
    expect(store.statementCount() - before).toBe(1);
    expect(recent.map((o) => [o.customerId, o.id])).toEqual([
      ['cust-a', 'o-a4'],
      ['cust-a', 'o-a2'],
      ['cust-a', 'o-a3'],
      ['cust-b', 'o-b1'],
    ]);
    expect(recent[0]).toMatchObject({ status: 'DELIVERED', totalAmount: 300, shippingAddress: address });
    expect(recent[0]!.placedAt).toEqual(new Date('2024-03-01T10:00:00Z'));
    expect(Object.keys(recent[0]!).sort()).toEqual(
      ['currency', 'customerId', 'failureReason', 'id', 'placedAt', 'shippingAddress', 'status', 'totalAmount', 'updatedAt'].sort(),
    );
  });

  it('returns whole histories when `first` exceeds them and nothing for 0', async () => {
    expect((await store.recentOrdersOfCustomers(['cust-a'], 100)).map((o) => o.id)).toEqual(['o-a4', 'o-a2', 'o-a3', 'o-a1']);
    expect(await store.recentOrdersOfCustomers(['cust-a'], 0)).toEqual([]);
    expect(await store.recentOrdersOfCustomers([], 5)).toEqual([]);
  });

  it('writes all orders of a batch or none: a line the database refuses undoes the whole batch', async () => {
    const bad = [
      order('o-c1', 'cust-c', '2024-05-01T00:00:00Z'),
      order('o-c2', 'cust-c', '2024-05-02T00:00:00Z', { lines: [{ productId: 'p1', quantity: 100, unitPriceAmount: 1 }] }),
    ];
    await expect(store.insertOrders(bad)).rejects.toThrow();
    expect(await store.ordersByIds(['o-c1', 'o-c2'])).toEqual([]);
    expect(await store.linesOfOrders(['o-c1'])).toEqual([]);
  });

  it('refuses at the database what no order may hold', async () => {
    await expect(
      store.insertOrders([order('o-d1', 'cust-d', '2024-05-01T00:00:00Z', { lines: [{ productId: 'p1', quantity: 0, unitPriceAmount: 1 }] })]),
    ).rejects.toThrow();
    await expect(
      store.insertOrders([order('o-d2', 'cust-d', '2024-05-01T00:00:00Z', { lines: [{ productId: 'p1', quantity: 1, unitPriceAmount: -1 }] })]),
    ).rejects.toThrow();
    await expect(store.insertOrders([order('o-d3', 'cust-d', '2024-05-01T00:00:00Z', { totalAmount: -5 })])).rejects.toThrow();
    await expect(
      store.insertOrders([order('o-d4', 'cust-d', '2024-05-01T00:00:00Z', { status: 'LOST' as never })]),
    ).rejects.toThrow();
    await expect(store.insertOrders([order('o-a1', 'cust-d', '2024-05-01T00:00:00Z')])).rejects.toThrow();
    expect(await store.recentOrdersOfCustomers(['cust-d'], 10)).toEqual([]);
  });

  it('writes a large import in a few statements', async () => {
    const many = Array.from({ length: 2500 }, (_, i) =>
      order(`o-bulk-${String(i).padStart(4, '0')}`, `cust-bulk-${i % 50}`, new Date(Date.UTC(2023, 0, 1) + i * 60_000).toISOString()),
    );
    const before = store.statementCount();
    await store.insertOrders(many);
    // Two chunks of orders and their lines (plus the transaction's own statements where a driver logs them).
    expect(store.statementCount() - before).toBeLessThanOrEqual(10);
    const history = await store.recentOrdersOfCustomers(['cust-bulk-7'], 100);
    expect(history).toHaveLength(50);
    expect(history[0]!.id).toBe('o-bulk-2457');
    expect((await store.linesOfOrders(['o-bulk-2499'])).map((l) => l.lineNo)).toEqual([1, 2]);
  });

  it('keeps the failure reason of an imported order and refuses an unknown one', async () => {
    await store.insertOrders([order('o-f1', 'cust-f', '2024-05-01T00:00:00Z', { status: 'REJECTED', failureReason: 'OUT_OF_STOCK' })]);
    expect((await store.ordersByIds(['o-f1']))[0]!.failureReason).toBe('OUT_OF_STOCK');
    await expect(
      store.insertOrders([order('o-f2', 'cust-f', '2024-05-01T00:00:00Z', { failureReason: 'BORED' as never })]),
    ).rejects.toThrow();
  });

  describe('changing an order', () => {
    const confirm = (order: OrderRecord | null): OrderChange | null =>
      order?.status === 'PENDING'
        ? { next: 'CONFIRMED', failureReason: null, events: [domainEvent('OrderConfirmed', order.id, { orderId: order.id })] }
        : null;

    beforeAll(() =>
      store.insertOrders(
        ['o-s1', 'o-s2', 'o-s4'].map((id, i) => order(id, 'cust-s', `2024-06-0${i + 1}T00:00:00Z`, { status: 'PENDING' })),
      ),
    );

    it('moves the status as decided on the order as stored and writes the events with it', async () => {
      const [before] = await store.ordersByIds(['o-s1']);
      let seen: OrderRecord | null = null;
      const outcome = await store.changeOrder('o-s1', (current) => {
        seen = current;
        return {
          next: 'REJECTED',
          failureReason: 'OUT_OF_STOCK',
          events: [domainEvent('OrderRejected', 'o-s1', { orderId: 'o-s1', reason: 'OUT_OF_STOCK' }, 'req-1')],
        };
      });
      expect(seen).toEqual(before);
      expect(outcome).toMatchObject({ kind: 'changed', order: { id: 'o-s1', status: 'REJECTED', failureReason: 'OUT_OF_STOCK' } });
      const [after] = await store.ordersByIds(['o-s1']);
      expect(after).toMatchObject({ status: 'REJECTED', failureReason: 'OUT_OF_STOCK', totalAmount: 300 });
      expect(after!.updatedAt.getTime()).toBeGreaterThanOrEqual(before!.updatedAt.getTime());
      const events = await outboxEvents(store, 'o-s1');
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'OrderRejected',
        aggregateId: 'o-s1',
        payload: { orderId: 'o-s1', reason: 'OUT_OF_STOCK' },
        requestId: 'req-1',
        publishedAt: null,
      });
    });

    it('changes nothing and writes no event when the decision is no change', async () => {
      const [before] = await store.ordersByIds(['o-s1']);
      expect(await store.changeOrder('o-s1', confirm)).toEqual({ kind: 'unchanged', order: before });
      expect((await store.ordersByIds(['o-s1']))[0]).toEqual(before);
      expect(await outboxEvents(store, 'o-s1')).toHaveLength(1);
    });

    it('asks about an unknown order with null', async () => {
      let asked: unknown = 'not asked';
      expect(await store.changeOrder('missing', (o) => ((asked = o), null))).toEqual({ kind: 'unchanged', order: null });
      expect(asked).toBeNull();
    });

    it('writes nothing when the decision throws', async () => {
      await expect(
        store.changeOrder('o-s2', () => {
          throw new Error('refused');
        }),
      ).rejects.toThrow('refused');
      expect((await store.ordersByIds(['o-s2']))[0]!.status).toBe('PENDING');
      expect(await outboxEvents(store, 'o-s2')).toHaveLength(0);
      expect(await store.changeOrder('o-s2', confirm)).toMatchObject({ kind: 'changed' });
    });

    it('lets concurrent changes of one order take turns, each deciding on the status the last one left', async () => {
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.changeOrder('o-s4', confirm)));
      expect(outcomes.filter((o) => o.kind === 'changed')).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'unchanged').every((o) => o.kind === 'unchanged' && o.order?.status === 'CONFIRMED')).toBe(true);
      expect(await outboxEvents(store, 'o-s4')).toHaveLength(1);
    });

  });

  describe('applying a saga event', () => {
    // The lifecycle's EXPIRE: an unpaid order is rejected, a confirmed one cancelled.
    const expire = (id: string) => ({
      moves: { PENDING: 'REJECTED', CONFIRMED: 'CANCELLED' } as const,
      failureReason: 'RESERVATION_EXPIRED' as const,
      events: [domainEvent('OrderRejected', id, { orderId: id, reason: 'RESERVATION_EXPIRED' }, 'req-x')],
    });
    const confirmRule = (id: string) => ({
      moves: { PENDING: 'CONFIRMED' } as const,
      failureReason: null,
      events: [domainEvent('OrderConfirmed', id, { orderId: id })],
    });
    const message = (messageId: string) => ({ consumer: 'test', messageId });

    beforeAll(() =>
      store.insertOrders(
        ['o-e1', 'o-e2', 'o-e3', 'o-e4', 'o-e5', 'o-e6'].map((id, i) =>
          order(id, 'cust-e', `2024-07-0${i + 1}T00:00:00Z`, { status: id === 'o-e2' ? 'CONFIRMED' : 'PENDING' }),
        ),
      ),
    );

    it('moves each status by the rule, records the reason and writes the events with the change', async () => {
      const [pending] = await store.ordersByIds(['o-e1']);
      const rejected = await store.applyEvent('o-e1', expire('o-e1'), message('m-e1'));
      expect(rejected).toEqual({
        kind: 'changed',
        order: { ...pending, status: 'REJECTED', failureReason: 'RESERVATION_EXPIRED', updatedAt: expect.any(Date) },
      });
      expect(await store.ordersByIds(['o-e1'])).toEqual([(rejected as { order: OrderRecord }).order]);
      expect(await store.applyEvent('o-e2', expire('o-e2'), message('m-e2'))).toMatchObject({
        kind: 'changed',
        order: { status: 'CANCELLED', failureReason: 'RESERVATION_EXPIRED' },
      });
      const events = await outboxEvents(store, 'o-e1');
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'OrderRejected', payload: { orderId: 'o-e1', reason: 'RESERVATION_EXPIRED' }, requestId: 'req-x' });
    });

    it('keeps the failure reason the order has when the rule records none', async () => {
      await store.insertOrders([order('o-e7', 'cust-e', '2024-07-09T00:00:00Z', { status: 'PENDING', failureReason: 'PAYMENT_DECLINED' })]);
      expect(await store.applyEvent('o-e7', confirmRule('o-e7'), message('m-e7'))).toMatchObject({
        kind: 'changed',
        order: { status: 'CONFIRMED', failureReason: 'PAYMENT_DECLINED' },
      });
    });

    it('leaves an order whose status the rule does not move, writes no event and records the message', async () => {
      const [before] = await store.ordersByIds(['o-e1']);
      expect(await store.applyEvent('o-e1', confirmRule('o-e1'), message('m-e1b'))).toEqual({ kind: 'unchanged', order: before });
      expect(await store.ordersByIds(['o-e1'])).toEqual([before]);
      expect(await outboxEvents(store, 'o-e1')).toHaveLength(1);
      expect(await store.applyEvent('o-e1', expire('o-e1'), message('m-e1b'))).toEqual({ kind: 'duplicate' });
    });

    it('answers an unknown order with null and records the message', async () => {
      expect(await store.applyEvent('missing', confirmRule('missing'), message('m-missing'))).toEqual({ kind: 'unchanged', order: null });
      expect(await store.applyEvent('missing', confirmRule('missing'), message('m-missing'))).toEqual({ kind: 'duplicate' });
      expect(await outboxEvents(store, 'missing')).toHaveLength(0);
    });

    it('processes a message once per consumer: a redelivery changes nothing', async () => {
      expect(await store.applyEvent('o-e3', confirmRule('o-e3'), message('m-e3'))).toMatchObject({ kind: 'changed' });
      expect(await store.applyEvent('o-e3', expire('o-e3'), message('m-e3'))).toEqual({ kind: 'duplicate' });
      expect((await store.ordersByIds(['o-e3']))[0]!.status).toBe('CONFIRMED');
      expect(await outboxEvents(store, 'o-e3')).toHaveLength(1);
      // Another consumer group processes the same message on its own.
      expect(await store.applyEvent('o-e3', expire('o-e3'), { consumer: 'other', messageId: 'm-e3' })).toMatchObject({
        kind: 'changed',
        order: { status: 'CANCELLED' },
      });
    });

    it('of concurrent deliveries of one message exactly one is processed', async () => {
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.applyEvent('o-e4', confirmRule('o-e4'), message('m-e4'))));
      expect(outcomes.filter((o) => o.kind === 'changed')).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'duplicate')).toHaveLength(7);
      expect(await outboxEvents(store, 'o-e4')).toHaveLength(1);
    });

    it('moves an order from the status a concurrent change left, never from the one it first saw', async () => {
      // Confirmations and expiries race: whichever lands first, the other moves on from it.
      for (const id of ['o-e5', 'o-e6']) {
        const outcomes = await Promise.all([
          store.applyEvent(id, confirmRule(id), message(`${id}-confirm`)),
          store.applyEvent(id, expire(id), message(`${id}-expire`)),
        ]);
        const [after] = await store.ordersByIds([id]);
        expect(outcomes.every((o) => o.kind === 'changed' || (o.kind === 'unchanged' && o.order?.status === after!.status))).toBe(true);
        // Confirmed then expired is CANCELLED; expired first leaves it REJECTED and the confirmation does nothing.
        expect(['CANCELLED', 'REJECTED']).toContain(after!.status);
        const types = (await outboxEvents(store, id)).map((e) => e.type);
        expect(types).toEqual(after!.status === 'CANCELLED' ? ['OrderConfirmed', 'OrderRejected'] : ['OrderRejected']);
      }
    });
  });

  describe('carts', () => {
    const limits: CartLimits = { maxQuantity: 99, maxLines: 3 };

    it('starts empty and adds lines in the order they are first added', async () => {
      expect(await store.cartLinesOf(['cart-a'])).toEqual([]);
      expect((await store.addToCart('cart-a', 'p-2', 2, limits)).outcome).toBe('changed');
      expect((await store.addToCart('cart-a', 'p-1', 1, limits)).outcome).toBe('changed');
      expect((await store.addToCart('cart-a', 'p-2', 3, limits)).outcome).toBe('changed');
      const lines = await store.cartLinesOf(['cart-a']);
      expect(lines.map((l) => [l.customerId, l.productId, l.quantity])).toEqual([
        ['cart-a', 'p-2', 5],
        ['cart-a', 'p-1', 1],
      ]);
      expect(lines[0]!.addedAt).toBeInstanceOf(Date);
    });

    it('refuses to take a line past its most units and keeps it as it was', async () => {
      await store.addToCart('cart-b', 'p-1', 98, limits);
      expect((await store.addToCart('cart-b', 'p-1', 2, limits)).outcome).toBe('too-many-units');
      expect((await store.addToCart('cart-b', 'p-9', 100, limits)).outcome).toBe('too-many-units');
      expect((await store.addToCart('cart-b', 'p-1', 1, limits)).outcome).toBe('changed');
      expect((await store.cartLinesOf(['cart-b'])).map((l) => [l.productId, l.quantity])).toEqual([['p-1', 99]]);
    });

    it('refuses a line beyond the most lines, but still adds to lines it holds', async () => {
      for (const p of ['p-1', 'p-2', 'p-3']) expect((await store.addToCart('cart-c', p, 1, limits)).outcome).toBe('changed');
      expect((await store.addToCart('cart-c', 'p-4', 1, limits)).outcome).toBe('too-many-lines');
      expect((await store.setCartLine('cart-c', 'p-4', 1, limits)).outcome).toBe('too-many-lines');
      expect((await store.addToCart('cart-c', 'p-3', 1, limits)).outcome).toBe('changed');
      expect((await store.cartLinesOf(['cart-c'])).map((l) => l.quantity)).toEqual([1, 1, 2]);
    });

    it('sets a line, keeps its place, and removes it at 0', async () => {
      await store.addToCart('cart-d', 'p-1', 1, limits);
      await store.addToCart('cart-d', 'p-2', 1, limits);
      expect((await store.setCartLine('cart-d', 'p-1', 7, limits)).outcome).toBe('changed');
      expect((await store.setCartLine('cart-d', 'p-3', 4, limits)).outcome).toBe('changed');
      expect((await store.setCartLine('cart-d', 'p-1', 100, limits)).outcome).toBe('too-many-units');
      expect((await store.cartLinesOf(['cart-d'])).map((l) => [l.productId, l.quantity])).toEqual([
        ['p-1', 7],
        ['p-2', 1],
        ['p-3', 4],
      ]);
      expect((await store.setCartLine('cart-d', 'p-2', 0, limits)).outcome).toBe('changed');
      expect((await store.setCartLine('cart-d', 'p-never', 0, limits)).outcome).toBe('changed');
      expect((await store.cartLinesOf(['cart-d'])).map((l) => l.productId)).toEqual(['p-1', 'p-3']);
    });

    it("reads many carts in one statement, each cart's lines in the order they were added", async () => {
      await store.addToCart('cart-m2', 'p-3', 1, limits);
      await store.addToCart('cart-m1', 'p-2', 1, limits);
      await store.addToCart('cart-m1', 'p-1', 2, limits);
      const before = store.statementCount();
      const lines = await store.cartLinesOf(['cart-m2', 'cart-m1', 'cart-none']);
      expect(store.statementCount() - before).toBe(1);
      expect(lines.map((l) => [l.customerId, l.productId, l.quantity])).toEqual([
        ['cart-m1', 'p-2', 1],
        ['cart-m1', 'p-1', 2],
        ['cart-m2', 'p-3', 1],
      ]);
    });

    it('loses no units when one cart is changed concurrently', async () => {
      await Promise.all(Array.from({ length: 20 }, () => store.addToCart('cart-e', 'p-1', 1, limits)));
      expect((await store.cartLinesOf(['cart-e'])).map((l) => l.quantity)).toEqual([20]);
      const outcomes = await Promise.all(['p-2', 'p-3', 'p-4', 'p-5'].map((p) => store.addToCart('cart-e', p, 1, limits)));
      expect(outcomes.filter((o) => o.outcome === 'changed')).toHaveLength(2);
      expect(await store.cartLinesOf(['cart-e'])).toHaveLength(3);
    });
  });

  describe('placing an order', () => {
    let n = 0;
    async function cartOf(customerId: string, lines: [string, number][]) {
      for (const [productId, quantity] of lines) await store.setCartLine(customerId, productId, quantity, { maxQuantity: 99, maxLines: 100 });
    }
    function placement(customerId: string, key: string, cart: [string, number][], hash = 'hash-1'): Placement {
      const id = `placed-${++n}`;
      const newOrder = order(id, customerId, '2024-07-01T00:00:00Z', {
        status: 'PENDING',
        lines: cart.map(([productId, quantity]) => ({ productId, quantity, unitPriceAmount: 100 })),
        totalAmount: cart.reduce((sum, [, q]) => sum + q * 100, 0),
      });
      return {
        order: newOrder,
        idempotencyKey: key,
        requestHash: hash,
        cart: cart.map(([productId, quantity]) => ({ productId, quantity })),
        events: [domainEvent('OrderConfirmed', id, { orderId: id })],
      };
    }

    it('writes the order, its lines, the key and the event, and empties the cart, together', async () => {
      await cartOf('buyer-1', [
        ['p-1', 2],
        ['p-2', 1],
      ]);
      const p = placement('buyer-1', 'key-1', [
        ['p-1', 2],
        ['p-2', 1],
      ]);
      expect(await store.placeOrder(p)).toEqual({ kind: 'placed', order: (await store.ordersByIds([p.order.id]))[0] });
      expect((await store.ordersByIds([p.order.id]))[0]).toMatchObject({ status: 'PENDING', customerId: 'buyer-1', totalAmount: 300 });
      expect((await store.linesOfOrders([p.order.id])).map((l) => [l.productId, l.quantity])).toEqual([
        ['p-1', 2],
        ['p-2', 1],
      ]);
      expect(await store.idempotencyRecord('buyer-1', 'key-1')).toEqual({
        customerId: 'buyer-1',
        key: 'key-1',
        requestHash: 'hash-1',
        orderId: p.order.id,
      });
      expect(await store.cartLinesOf(['buyer-1'])).toEqual([]);
      expect((await outboxEvents(store, p.order.id)).map((e) => e.id)).toEqual([p.events[0]!.id]);
    });

    it('keeps keys per customer', async () => {
      expect(await store.idempotencyRecord('buyer-2', 'key-1')).toBeNull();
    });

    it('writes nothing under a key already used, and answers its record', async () => {
      await cartOf('buyer-1', [['p-3', 1]]);
      const again = placement('buyer-1', 'key-1', [['p-3', 1]], 'hash-2');
      expect(await store.placeOrder(again)).toEqual({
        kind: 'key-used',
        record: expect.objectContaining({ requestHash: 'hash-1', orderId: expect.stringMatching(/^placed-/) }),
      });
      expect(await store.ordersByIds([again.order.id])).toEqual([]);
      expect(await outboxEvents(store, again.order.id)).toEqual([]);
      expect((await store.cartLinesOf(['buyer-1'])).map((l) => l.productId)).toEqual(['p-3']);
    });

    it('writes nothing, and leaves the key free, when the cart is not what was priced', async () => {
      await cartOf('buyer-3', [
        ['p-1', 1],
        ['p-2', 1],
      ]);
      for (const stale of [[['p-1', 1]], [['p-1', 2], ['p-2', 1]], [['p-1', 1], ['p-2', 1], ['p-3', 1]]] as [string, number][][]) {
        const p = placement('buyer-3', 'key-x', stale);
        expect(await store.placeOrder(p)).toEqual({ kind: 'cart-changed' });
        expect(await store.ordersByIds([p.order.id])).toEqual([]);
      }
      expect(await store.idempotencyRecord('buyer-3', 'key-x')).toBeNull();
      expect(await store.cartLinesOf(['buyer-3'])).toHaveLength(2);
      expect(await store.placeOrder(placement('buyer-4', 'key-x', [['p-1', 1]]))).toEqual({ kind: 'cart-changed' });
    });

    it('of concurrent placements under one key exactly one writes; the others get its record', async () => {
      await cartOf('buyer-5', [['p-1', 3]]);
      const attempts = Array.from({ length: 10 }, () => placement('buyer-5', 'key-race', [['p-1', 3]]));
      const outcomes = await Promise.all(attempts.map((p) => store.placeOrder(p)));
      const placed = outcomes.flatMap((o, i) => (o.kind === 'placed' ? [attempts[i]!.order.id] : []));
      expect(placed).toHaveLength(1);
      for (const o of outcomes) if (o.kind !== 'placed') expect(o).toEqual({ kind: 'key-used', record: expect.objectContaining({ orderId: placed[0] }) });
      expect(await store.ordersByIds(attempts.map((p) => p.order.id))).toHaveLength(1);
      expect(await outboxEvents(store, placed[0])).toHaveLength(1);
    });
  });
}
