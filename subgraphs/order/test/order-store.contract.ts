import type { NewOrder, OrderStore } from '../store/port';

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
      ['currency', 'customerId', 'id', 'placedAt', 'shippingAddress', 'status', 'totalAmount', 'updatedAt'].sort(),
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

  describe('compare-and-set status', () => {
    beforeAll(() =>
      store.insertOrders([
        order('o-s1', 'cust-s', '2024-06-01T00:00:00Z', { status: 'PENDING' }),
        order('o-s2', 'cust-s', '2024-06-02T00:00:00Z', { status: 'PENDING' }),
      ]),
    );

    it('moves the status when it is still the expected one', async () => {
      const [before] = await store.ordersByIds(['o-s1']);
      const updated = await store.compareAndSetStatus('o-s1', 'PENDING', 'CONFIRMED');
      expect(updated).toMatchObject({ id: 'o-s1', status: 'CONFIRMED', totalAmount: 300 });
      expect(updated!.updatedAt.getTime()).toBeGreaterThanOrEqual(before!.updatedAt.getTime());
      expect((await store.ordersByIds(['o-s1']))[0]!.status).toBe('CONFIRMED');
    });

    it('a write that lost the race changes nothing', async () => {
      const [before] = await store.ordersByIds(['o-s1']);
      expect(before!.status).toBe('CONFIRMED');
      expect(await store.compareAndSetStatus('o-s1', 'PENDING', 'CANCELLED')).toBeNull();
      const [after] = await store.ordersByIds(['o-s1']);
      expect(after).toEqual(before);
    });

    it('of concurrent writes from the same status exactly one wins', async () => {
      const targets = ['CONFIRMED', 'CANCELLED', 'REJECTED', 'PAYMENT_FAILED'] as const;
      const results = await Promise.all(targets.map((next) => store.compareAndSetStatus('o-s2', 'PENDING', next)));
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      expect((await store.ordersByIds(['o-s2']))[0]!.status).toBe(winners[0]!.status);
    });

    it('an unknown order is not updated', async () => {
      expect(await store.compareAndSetStatus('missing', 'PENDING', 'CONFIRMED')).toBeNull();
    });
  });
}
