import { domainEvent, type EventEnvelope } from '../../../platform/events';
import { serveTestSubgraph, storeBackends, testDeps, type TestDeps } from '../../../platform/testing';
import { inventorySubgraph, openInventoryStore } from '../subgraph';
import type { StockStore } from '../store/port';

const ADMIN = 'admin-1';
const CUSTOMER = 'customer-1';

/** Resolves when `check` passes, retrying for up to 5 s. */
async function eventually(check: () => Promise<void> | void): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe.each(storeBackends())('inventory subgraph on %s', (backend) => {
  let deps: TestDeps;
  let store: StockStore;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let wired: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let workerStore: StockStore;
  let admin: string;
  let clock = new Date('2030-05-01T08:00:00Z');
  const announced: EventEnvelope[] = [];

  beforeAll(async () => {
    deps = await testDeps(backend, ['inventory']);
    store = await openInventoryStore(deps);
    await store.addWarehouses([
      { id: 'wh-1', code: 'AMS-1', name: 'Amsterdam', city: 'Amsterdam', country: 'NL' },
      { id: 'wh-2', code: 'BER-1', name: 'Berlin', city: 'Berlin', country: 'DE' },
    ]);
    const levels = [];
    for (let i = 0; i < 60; i++) {
      levels.push({ productId: `p${i}`, warehouseId: 'wh-1', onHand: i % 3 === 0 ? 0 : 5 });
      levels.push({ productId: `p${i}`, warehouseId: 'wh-2', onHand: 2 });
    }
    await store.setOnHandMany(levels);
    (await deps.events()).subscribe('observer', ['StockReserved', 'StockReservationFailed', 'StockReservationExpired'], async (e) => {
      announced.push(e);
    });
    server = await serveTestSubgraph(inventorySubgraph(store), deps);
    // The checkout workers run on a store handle of their own, so their background
    // statements do not count against the batching assertions on `store`.
    workerStore = await openInventoryStore(deps);
    wired = await serveTestSubgraph(inventorySubgraph(workerStore, { ...deps, sweepIntervalMs: 20, now: () => clock }), deps);
    admin = await deps.bearer(ADMIN, ['customer', 'admin']);
  });

  afterAll(async () => {
    await wired.stop();
    await server.stop();
    await deps.release();
  });

  const entities = `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Product { id availableQuantity inStock } } }`;

  it('resolves stock of product references', async () => {
    const res = await server.query(entities, { reps: [{ __typename: 'Product', id: 'p1' }, { __typename: 'Product', id: 'unknown' }] });
    expect(res.errors).toBeUndefined();
    expect(res.data!._entities).toEqual([
      { id: 'p1', availableQuantity: 7, inStock: true },
      { id: 'unknown', availableQuantity: 0, inStock: false },
    ]);
  });

  it('loads stock of 50 products with one statement', async () => {
    const reps = Array.from({ length: 50 }, (_, i) => ({ __typename: 'Product', id: `p${i}` }));
    const before = store.statementCount();
    const res = await server.query(entities, { reps });
    expect(res.errors).toBeUndefined();
    expect(res.data!._entities).toHaveLength(50);
    expect(store.statementCount() - before).toBe(1);
  });

  it('shows warehouses and stock levels to admins only', async () => {
    const query = `{ warehouses { code } _entities(representations: [{ __typename: "Product", id: "p0" }]) { ... on Product { stockLevels { warehouse { code } onHand reserved available } } } }`;
    const asAdmin = await server.query(query, undefined, admin);
    expect(asAdmin.errors).toBeUndefined();
    expect(asAdmin.data).toEqual({
      warehouses: [{ code: 'AMS-1' }, { code: 'BER-1' }],
      _entities: [
        {
          stockLevels: [
            { warehouse: { code: 'AMS-1' }, onHand: 0, reserved: 0, available: 0 },
            { warehouse: { code: 'BER-1' }, onHand: 2, reserved: 0, available: 2 },
          ],
        },
      ],
    });
    const asCustomer = await server.query(`{ warehouses { code } }`, undefined, await deps.bearer(CUSTOMER));
    expect(asCustomer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = await server.query(`{ warehouses { code } }`);
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const badToken = await server.query(`{ warehouses { code } }`, undefined, 'Bearer not-a-token');
    expect(badToken.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  const setStock = `mutation ($input: SetStockInput!) { setStock(input: $input) { product { id } warehouse { code } onHand available } }`;

  it('lets an admin set stock, which product availability then reflects', async () => {
    const res = await server.query(setStock, { input: { productId: 'p2', warehouseId: 'wh-1', onHand: 40 } }, admin);
    expect(res.errors).toBeUndefined();
    expect(res.data!.setStock).toEqual({ product: { id: 'p2' }, warehouse: { code: 'AMS-1' }, onHand: 40, available: 40 });
    const after = await server.query(entities, { reps: [{ __typename: 'Product', id: 'p2' }] });
    expect(after.data!._entities[0].availableQuantity).toBe(42);
  });

  it('rejects negative counts and unknown warehouses with BAD_USER_INPUT, and changes nothing', async () => {
    const negative = await server.query(setStock, { input: { productId: 'p4', warehouseId: 'wh-1', onHand: -1 } }, admin);
    expect(negative.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(negative.errors?.[0]?.extensions?.field).toBe('onHand');
    const unknown = await server.query(setStock, { input: { productId: 'p4', warehouseId: 'nope', onHand: 1 } }, admin);
    expect(unknown.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await store.stockLevelsFor(['p4'])).map((l) => l.onHand)).toEqual([5, 2]);
  });

  it('resolves warehouse references for admins only', async () => {
    const query = `{ _entities(representations: [{ __typename: "Warehouse", id: "wh-1" }]) { ... on Warehouse { code city } } }`;
    expect((await server.query(query, undefined, admin)).data).toEqual({ _entities: [{ code: 'AMS-1', city: 'Amsterdam' }] });
    const anonymous = await server.query(query);
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(JSON.stringify(anonymous.data)).not.toContain('Amsterdam');
  });

  it('refuses setStock to customers', async () => {
    const res = await server.query(setStock, { input: { productId: 'p4', warehouseId: 'wh-1', onHand: 1 } }, await deps.bearer(CUSTOMER));
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(res.data).toBeNull();
  });

  const placed = (orderId: string, productId: string, quantity: number) =>
    domainEvent('OrderPlaced', orderId, {
      orderId,
      customerId: CUSTOMER,
      lines: [{ productId, quantity, unitPrice: { amount: 250, currency: 'USD' } }],
      total: { amount: 250 * quantity, currency: 'USD' },
      paymentToken: 'tok_visa',
    });
  const availability = async (productId: string) =>
    (await wired.query(entities, { reps: [{ __typename: 'Product', id: productId }] })).data!._entities[0];

  it('reserves stock for placed orders from the bus, announces it, and shows it as unavailable', async () => {
    await (await deps.events()).publish([placed(`${backend}-order-1`, 'p10', 6), placed(`${backend}-order-2`, 'p11', 8)]);
    await eventually(() =>
      expect(announced.map((e) => [e.aggregateId, e.type])).toEqual([
        [`${backend}-order-1`, 'StockReserved'],
        [`${backend}-order-2`, 'StockReservationFailed'],
      ]),
    );
    expect(await availability('p10')).toEqual({ id: 'p10', availableQuantity: 1, inStock: true });
    expect(await availability('p11')).toEqual({ id: 'p11', availableQuantity: 7, inStock: true });
  });

  it('refuses an admin count below the units reserved for orders', async () => {
    // p10 has 5 + 2 on hand and 6 reserved: 5 in AMS-1 and 1 in BER-1.
    const res = await wired.query(setStock, { input: { productId: 'p10', warehouseId: 'wh-1', onHand: 4 } }, admin);
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.extensions?.reserved).toBe(5);
    const ok = await wired.query(setStock, { input: { productId: 'p10', warehouseId: 'wh-1', onHand: 5 } }, admin);
    expect(ok.data!.setStock).toMatchObject({ onHand: 5, available: 0 });
  });

  it('returns the stock of an unpaid order once its reservation expires, and announces the expiry', async () => {
    clock = new Date(clock.getTime() + (deps.config.RESERVATION_TTL_SECONDS + 1) * 1000);
    await eventually(() => expect(announced.map((e) => e.type)).toContain('StockReservationExpired'));
    expect(announced.find((e) => e.type === 'StockReservationExpired')?.payload).toEqual({ orderId: `${backend}-order-1` });
    expect(await availability('p10')).toEqual({ id: 'p10', availableQuantity: 7, inStock: true });
  });

  it('answers health and readiness', async () => {
    const base = server.url.replace('/graphql', '');
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect(await (await fetch(`${base}/ready`)).json()).toEqual({ status: 'ready' });
  });
});
