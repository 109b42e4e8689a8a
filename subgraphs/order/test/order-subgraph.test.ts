import { randomUUID } from 'node:crypto';
import { serveTestSubgraph, testDeps, type TestDeps } from '../../../platform/testing';
import type { NewOrder, OrderStore } from '../store/port';
import { openOrderStore, orderSubgraph } from '../subgraph';

const address = {
  line1: 'Prinsengracht 263',
  line2: 'Achterhuis',
  city: 'Amsterdam',
  region: null,
  postalCode: '1016 GV',
  country: 'NL',
};

const ORDER_FIELDS = `
  id status placedAt
  total { amount currency formatted }
  customer { id }
  shippingAddress { line1 line2 city region postalCode country }
  lines { product { id } quantity unitPrice { amount currency formatted } lineTotal { amount currency formatted } }
`;

const ORDER = `query ($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`;
const ORDER_ENTITIES = `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Order { id status } } }`;
const CUSTOMER_ORDERS = `query ($reps: [_Any!]!, $first: Int) {
  _entities(representations: $reps) { ... on Customer { id orders(first: $first) { id placedAt total { amount } lines { quantity lineTotal { amount } } } } }
}`;
const CUSTOMER_ORDERS_DEFAULT = `query ($reps: [_Any!]!) {
  _entities(representations: $reps) { ... on Customer { orders { id } } }
}`;

describe('order subgraph over HTTP', () => {
  let deps: TestDeps;
  let store: OrderStore;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  const alice = randomUUID();
  const bob = randomUUID();
  const admin = randomUUID();
  const aliceOrder = randomUUID();
  const many = Array.from({ length: 20 }, () => randomUUID());
  const reps = (ids: string[]) => ids.map((id) => ({ __typename: 'Customer', id }));

  beforeAll(async () => {
    deps = await testDeps('pglite');
    store = await openOrderStore(deps);
    // Only reads here: without the outbox relay's polling, statement counts are this test's alone.
    const definition = { ...orderSubgraph(store, deps), workers: [] };
    const past: NewOrder[] = [
      {
        id: aliceOrder,
        customerId: alice,
        status: 'DELIVERED',
        currency: 'USD',
        totalAmount: 3 * 1999 + 12500,
        placedAt: new Date('2024-04-02T09:30:00.000Z'),
        shippingAddress: address,
        lines: [
          { productId: 'prod-lamp', quantity: 3, unitPriceAmount: 1999 },
          { productId: 'prod-rug', quantity: 1, unitPriceAmount: 12500 },
        ],
      },
      // Thirty orders for each of twenty customers, one minute apart.
      ...many.flatMap((customerId, c) =>
        Array.from({ length: 30 }, (_, i): NewOrder => ({
          id: `${c}-${String(i).padStart(2, '0')}`,
          customerId,
          status: 'DELIVERED',
          currency: 'USD',
          totalAmount: ((i % 3) + 1) * (100 + i),
          placedAt: new Date(Date.UTC(2024, 0, 1, 0, i)),
          shippingAddress: null,
          lines: [{ productId: `p-${i}`, quantity: (i % 3) + 1, unitPriceAmount: 100 + i }],
        })),
      ),
    ];
    await store.insertOrders(past);
    server = await serveTestSubgraph(definition, deps);
  });

  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  it('shows the owner their order with lines, totals and address', async () => {
    const res = await server.query(ORDER, { id: aliceOrder }, await deps.bearer(alice));
    expect(res.errors).toBeUndefined();
    expect(res.data?.order).toEqual({
      id: aliceOrder,
      status: 'DELIVERED',
      placedAt: '2024-04-02T09:30:00.000Z',
      total: { amount: 3 * 1999 + 12500, currency: 'USD', formatted: '$184.97' },
      customer: { id: alice },
      shippingAddress: address,
      lines: [
        {
          product: { id: 'prod-lamp' },
          quantity: 3,
          unitPrice: { amount: 1999, currency: 'USD', formatted: '$19.99' },
          lineTotal: { amount: 5997, currency: 'USD', formatted: '$59.97' },
        },
        {
          product: { id: 'prod-rug' },
          quantity: 1,
          unitPrice: { amount: 12500, currency: 'USD', formatted: '$125.00' },
          lineTotal: { amount: 12500, currency: 'USD', formatted: '$125.00' },
        },
      ],
    });
  });

  it("refuses another customer's order with FORBIDDEN and shows none of it", async () => {
    const res = await server.query(ORDER, { id: aliceOrder }, await deps.bearer(bob));
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(res.data?.order).toBeNull();
    expect(JSON.stringify(res)).not.toContain('prod-lamp');
  });

  it('shows any order to an admin', async () => {
    const res = await server.query(ORDER, { id: aliceOrder }, await deps.bearer(admin, ['customer', 'admin']));
    expect(res.errors).toBeUndefined();
    expect(res.data?.order).toMatchObject({ id: aliceOrder, customer: { id: alice } });
  });

  it('asks anonymous callers and bad tokens to sign in', async () => {
    for (const auth of [undefined, 'Bearer not-a-token']) {
      const res = await server.query(ORDER, { id: aliceOrder }, auth);
      expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
      expect(res.data?.order).toBeNull();
    }
  });

  it('answers null for an unknown order', async () => {
    const res = await server.query(ORDER, { id: randomUUID() }, await deps.bearer(alice));
    expect(res.errors).toBeUndefined();
    expect(res.data?.order).toBeNull();
  });

  it('applies the same rule to Order references', async () => {
    const reps = [{ __typename: 'Order', id: aliceOrder }, { __typename: 'Order', id: 'missing' }];
    const own = await server.query(ORDER_ENTITIES, { reps }, await deps.bearer(alice));
    expect(own.errors).toBeUndefined();
    expect(own.data?._entities).toEqual([{ id: aliceOrder, status: 'DELIVERED' }, null]);

    const other = await server.query(ORDER_ENTITIES, { reps }, await deps.bearer(bob));
    expect(other.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(other.data?._entities).toEqual([null, null]);

    const anonymous = await server.query(ORDER_ENTITIES, { reps });
    expect(anonymous.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED']);
  });

  it("reads 20 customers' order histories with one orders statement and one lines statement", async () => {
    const auth = await deps.bearer(admin, ['admin']);
    const before = store.statementCount();
    const res = await server.query(CUSTOMER_ORDERS, { reps: reps(many), first: 5 }, auth);
    expect(store.statementCount() - before).toBe(2);
    expect(res.errors).toBeUndefined();
    const histories = res.data?._entities as { id: string; orders: { id: string; placedAt: string; lines: unknown[] }[] }[];
    expect(histories.map((h) => h.id)).toEqual(many);
    for (const [c, history] of histories.entries()) {
      expect(history.orders.map((o) => o.id)).toEqual(['29', '28', '27', '26', '25'].map((i) => `${c}-${i}`));
      expect(history.orders.every((o) => o.lines.length === 1)).toBe(true);
    }
    expect(histories[0]!.orders[0]).toEqual({
      id: '0-29',
      placedAt: '2024-01-01T00:29:00.000Z',
      total: { amount: 3 * 129 },
      lines: [{ quantity: 3, lineTotal: { amount: 3 * 129 } }],
    });
  });

  it('returns 20 orders by default and keeps different page sizes apart within one request', async () => {
    const auth = await deps.bearer(admin, ['admin']);
    const byDefault = await server.query(CUSTOMER_ORDERS_DEFAULT, { reps: reps(many.slice(0, 2)) }, auth);
    expect(byDefault.data?._entities.map((c: { orders: unknown[] }) => c.orders.length)).toEqual([20, 20]);

    const mixed = await server.query(
      `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Customer { two: orders(first: 2) { id } four: orders(first: 4) { id } } } }`,
      { reps: reps(many.slice(0, 3)) },
      auth,
    );
    expect(mixed.errors).toBeUndefined();
    expect(mixed.data?._entities.map((c: { two: unknown[]; four: unknown[] }) => [c.two.length, c.four.length])).toEqual([
      [2, 4],
      [2, 4],
      [2, 4],
    ]);
  });

  it('shows a customer their own history, newest first, and no one else', async () => {
    const own = await server.query(CUSTOMER_ORDERS, { reps: reps([alice]), first: 10 }, await deps.bearer(alice));
    expect(own.errors).toBeUndefined();
    expect(own.data?._entities[0].orders.map((o: { id: string }) => o.id)).toEqual([aliceOrder]);

    const other = await server.query(CUSTOMER_ORDERS, { reps: reps([alice]), first: 10 }, await deps.bearer(bob));
    expect(other.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(JSON.stringify(other.data)).not.toContain(aliceOrder);

    const anonymous = await server.query(CUSTOMER_ORDERS, { reps: reps([alice]), first: 10 });
    expect(anonymous.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });

  it.each([101, -1])('refuses first: %p with BAD_USER_INPUT', async (first) => {
    const res = await server.query(CUSTOMER_ORDERS, { reps: reps([alice]), first }, await deps.bearer(alice));
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors?.[0]?.extensions?.field).toBe('first');
  });

  it('returns no orders for first: 0 without asking the store', async () => {
    const before = store.statementCount();
    const res = await server.query(CUSTOMER_ORDERS, { reps: reps([alice]), first: 0 }, await deps.bearer(alice));
    expect(res.data?._entities[0].orders).toEqual([]);
    expect(store.statementCount()).toBe(before);
  });
});
