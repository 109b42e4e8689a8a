import type { DemoOrder, DemoShop } from '../../../embedded/demo-shop-types';
import { serveTestSubgraph, testDeps, type TestDeps } from '../../../platform/testing';
import { paymentIdForOrder } from '../payments';
import { seedPayments } from '../seed';
import type { PaymentStore } from '../store/port';
import { openPaymentStore, paymentSubgraph } from '../subgraph';

const ALICE = '0b6b1c9e-0000-4000-8000-00000000000a';
const BOB = '0b6b1c9e-0000-4000-8000-00000000000b';
const ADMIN = '0b6b1c9e-0000-4000-8000-0000000000ad';

function order(index: number, customerId: string): DemoOrder {
  return {
    id: `order-${index}`,
    customerId,
    placedAt: new Date(Date.UTC(2024, 0, 1 + index)),
    lines: [
      { productId: 'prod-1', quantity: 2, unitPriceAmount: 1250 },
      { productId: 'prod-2', quantity: 1, unitPriceAmount: 100 + index },
    ],
    shippingAddress: { line1: '1 Main St', line2: null, city: 'Springfield', region: null, postalCode: '1000', country: 'US' },
    card: { brand: index % 2 ? 'Visa' : 'Mastercard', last4: String(1000 + index) },
  };
}

/** A small shop: 40 past orders, alternating between Alice and Bob. */
function demoShop(): DemoShop {
  return {
    currency: 'USD',
    categories: [],
    brands: [],
    products: [],
    warehouses: [],
    stock: [],
    customers: [],
    orders: Array.from({ length: 40 }, (_, i) => order(i, i % 2 ? BOB : ALICE)),
  };
}

const ORDER_PAYMENTS = `query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Order { id payment { id status amount { amount currency formatted } method { brand last4 } createdAt } }
  }
}`;

const PAYMENTS = `query ($reps: [_Any!]!) {
  _entities(representations: $reps) { ... on Payment { id status amount { amount } } }
}`;

const orderRefs = (...ids: string[]) => ({ reps: ids.map((id) => ({ __typename: 'Order', id })) });

describe('payment subgraph over HTTP', () => {
  let deps: TestDeps;
  let store: PaymentStore;
  let definition: ReturnType<typeof paymentSubgraph>;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let alice: string;
  let bob: string;
  let admin: string;

  beforeAll(async () => {
    deps = await testDeps('pglite', ['payment']);
    store = await openPaymentStore(deps);
    definition = paymentSubgraph(store);
    expect(await seedPayments(definition.service, demoShop())).toBe(true);
    server = await serveTestSubgraph(definition, deps);
    [alice, bob, admin] = await Promise.all([deps.bearer(ALICE), deps.bearer(BOB), deps.bearer(ADMIN, ['customer', 'admin'])]);
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  it('seeds only an empty store', async () => {
    expect(await seedPayments(definition.service, demoShop())).toBe(false);
  });

  it("shows an order's payment to its customer, with the order total and only brand and last 4 of the card", async () => {
    const res = await server.query(ORDER_PAYMENTS, orderRefs('order-0'), alice);
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities).toEqual([
      {
        id: 'order-0',
        payment: {
          id: paymentIdForOrder('order-0'),
          status: 'CAPTURED',
          amount: { amount: 2600, currency: 'USD', formatted: '$26.00' },
          method: { brand: 'Mastercard', last4: '1000' },
          createdAt: '2024-01-01T00:00:00.000Z',
        },
      },
    ]);
  });

  it('answers null for an order without a payment', async () => {
    const res = await server.query(ORDER_PAYMENTS, orderRefs('order-unpaid'), alice);
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities).toEqual([{ id: 'order-unpaid', payment: null }]);
  });

  it('refuses anonymous callers and bad tokens with UNAUTHENTICATED', async () => {
    for (const auth of [undefined, 'Bearer not-a-token']) {
      const res = await server.query(ORDER_PAYMENTS, orderRefs('order-0'), auth);
      expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(res.errors?.[0]?.path).toEqual(['_entities', 0, 'payment']);
    }
  });

  it("refuses another customer's payment with FORBIDDEN", async () => {
    const res = await server.query(ORDER_PAYMENTS, orderRefs('order-0', 'order-1'), bob);
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(res.data?._entities[0]).toEqual({ id: 'order-0', payment: null });
    expect(res.data?._entities[1].payment.id).toBe(paymentIdForOrder('order-1'));
  });

  it("shows an admin anyone's payment", async () => {
    const res = await server.query(ORDER_PAYMENTS, orderRefs('order-0', 'order-1'), admin);
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities.map((o: { payment: { status: string } }) => o.payment.status)).toEqual(['CAPTURED', 'CAPTURED']);
  });

  it('resolves payments by id for their customer; unknown ids are null, others FORBIDDEN', async () => {
    const reps = [paymentIdForOrder('order-2'), 'no-such-payment'].map((id) => ({ __typename: 'Payment', id }));
    const own = await server.query(PAYMENTS, { reps }, alice);
    expect(own.errors).toBeUndefined();
    expect(own.data?._entities).toEqual([{ id: paymentIdForOrder('order-2'), status: 'CAPTURED', amount: { amount: 2602 } }, null]);
    const other = await server.query(PAYMENTS, { reps }, bob);
    expect(other.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    const anonymous = await server.query(PAYMENTS, { reps });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it("reads 30 orders' payments with one statement", async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `order-${i}`);
    const before = store.statementCount();
    const res = await server.query(ORDER_PAYMENTS, orderRefs(...ids), admin);
    expect(store.statementCount() - before).toBe(1);
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities.map((o: { payment: { id: string } }) => o.payment.id)).toEqual(ids.map(paymentIdForOrder));
  });

  it('refuses to import card data beyond brand and last 4 with BAD_USER_INPUT, writing nothing', async () => {
    const attempt = definition.service.importCapturedPayments([
      {
        id: 'pay-leak',
        orderId: 'order-leak',
        customerId: ALICE,
        amount: 100,
        currency: 'USD',
        method: { brand: 'Visa', last4: '4111111111111111' },
        createdAt: new Date(),
      },
    ]);
    await expect(attempt).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'last4' } });
    const res = await server.query(ORDER_PAYMENTS, orderRefs('order-leak'), admin);
    expect(res.data?._entities).toEqual([{ id: 'order-leak', payment: null }]);
  });
});
