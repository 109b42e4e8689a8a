import type { DemoOrder, DemoShop } from '../../../platform/demo-shop-types';
import { domainEvent, type EventEnvelope, type EventType } from '../../../platform/events';
import { metricSample, serveTestSubgraph, testDeps, waitFor, type TestDeps } from '../../../platform/testing';
import { orderAmount, paymentIdForOrder } from '../payments';
import { metricsText } from '../../../platform/metrics';
import { TransientProviderError, type PaymentProvider } from '../provider/port';
import type { SimulatedCardProcessor } from '../provider/simulated';
import type { NewPayment } from '../store/port';
import type { PostgresPaymentStore } from '../store/postgres';
import { openPaymentStore, openSimulatedProcessor, paymentSubgraph } from '../subgraph';

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

/** The captured payment of a past order, as the store keeps it: its total, charged to the card it names. */
function capturedPaymentOfOrder(order: DemoOrder, currency: string): NewPayment {
  const id = paymentIdForOrder(order.id);
  const amount = orderAmount(order.lines, currency).amount;
  return {
    id,
    orderId: order.id,
    customerId: order.customerId,
    status: 'CAPTURED',
    amount,
    capturedAmount: amount,
    refundedAmount: 0,
    currency,
    methodBrand: order.card.brand,
    methodLast4: order.card.last4,
    providerReference: `demo_${id.replace(/-/g, '')}`,
    createdAt: order.placedAt,
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
    ... on Order {
      id
      payment {
        id status amount { amount currency formatted } method { brand last4 } createdAt
        capturedAmount { amount currency } refundedAmount { amount } failureCode
      }
    }
  }
}`;

const PAYMENTS = `query ($reps: [_Any!]!) {
  _entities(representations: $reps) { ... on Payment { id status amount { amount } } }
}`;

const orderRefs = (...ids: string[]) => ({ reps: ids.map((id) => ({ __typename: 'Order', id })) });

describe('payment subgraph over HTTP', () => {
  let deps: TestDeps;
  let store: PostgresPaymentStore;
  let definition: ReturnType<typeof paymentSubgraph>;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let processor: SimulatedCardProcessor;
  let captureDown = false;
  let alice: string;
  let bob: string;
  let admin: string;

  beforeAll(async () => {
    deps = await testDeps('pglite', ['payment']);
    store = await openPaymentStore(deps);
    const opened = await openSimulatedProcessor(deps);
    processor = opened.processor;
    // The processor, except that its captures can be made to fail as when it is down.
    const provider: PaymentProvider = {
      authorize: (...args) => processor.authorize(...args),
      capture: (...args) => (captureDown ? Promise.reject(new TransientProviderError('processor unavailable')) : processor.capture(...args)),
      void: (...args) => processor.void(...args),
      refund: (...args) => processor.refund(...args),
    };
    // The relay publishes only when told (after a commit), never on a timer, and retention never
    // sweeps, so statement counts below are the request's alone and the bus tests show the relay is told.
    const quietRelay = { ...deps, config: { ...deps.config, OUTBOX_POLL_MS: 3_600_000, EVENT_RETENTION_SWEEP_SECONDS: 3600 } };
    definition = paymentSubgraph(store, quietRelay, { provider, providerStore: opened.store, retry: { baseMs: 1, maxMs: 2 } });
    const shop = demoShop();
    expect(await store.importPayments(shop.orders.map((o) => capturedPaymentOfOrder(o, shop.currency)))).toBe(shop.orders.length);
    server = await serveTestSubgraph(definition, deps);
    [alice, bob, admin] = await Promise.all([deps.bearer(ALICE), deps.bearer(BOB), deps.bearer(ADMIN, ['customer', 'admin'])]);
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
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
          capturedAmount: { amount: 2600, currency: 'USD' },
          refundedAmount: null,
          failureCode: null,
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

  describe('checkout events through the bus', () => {
    /** The next event of `type` about `orderId` that the subgraph publishes. */
    async function published<T extends EventType>(type: T, orderId: string, trigger: () => Promise<void>): Promise<EventEnvelope<T>> {
      const bus = await deps.events();
      let subscription: { close(): Promise<void> } | undefined;
      const heard = new Promise<EventEnvelope<T>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${type} for ${orderId}`)), 10_000);
        subscription = bus.subscribe(`observer-${orderId}-${type}`, [type], async (event) => {
          if (event.aggregateId !== orderId) return;
          clearTimeout(timer);
          resolve(event as EventEnvelope<T>);
        });
      });
      await trigger();
      try {
        return await heard;
      } finally {
        await subscription?.close();
      }
    }

    const placed = (orderId: string, paymentToken: string) =>
      domainEvent('OrderPlaced', orderId, {
        orderId,
        customerId: ALICE,
        lines: [{ productId: 'prod-1', quantity: 3, unitPrice: { amount: 1500, currency: 'USD' } }],
        total: { amount: 4500, currency: 'USD' },
        paymentToken,
      });
    const reserved = (orderId: string) => domainEvent('StockReserved', orderId, { orderId, expiresAt: new Date().toISOString() });

    it('authorizes a placed order once its stock is reserved, publishes PaymentAuthorized, and shows the payment', async () => {
      const orderId = 'order-live-1';
      const bus = await deps.events();
      const event = await published('PaymentAuthorized', orderId, () => bus.publish([placed(orderId, 'tok_visa'), reserved(orderId)]));
      expect(event.payload).toEqual({ orderId, paymentId: paymentIdForOrder(orderId), amount: { amount: 4500, currency: 'USD' } });
      const res = await server.query(ORDER_PAYMENTS, orderRefs(orderId), alice);
      expect(res.errors).toBeUndefined();
      expect(res.data?._entities[0].payment).toMatchObject({
        status: 'AUTHORIZED',
        amount: { amount: 4500, formatted: '$45.00' },
        method: { brand: 'Visa', last4: '4242' },
        capturedAmount: null,
        refundedAmount: null,
        failureCode: null,
      });

      const captured = await published('PaymentCaptured', orderId, () => bus.publish([domainEvent('OrderShipped', orderId, { orderId })]));
      expect(captured.payload.amount).toEqual({ amount: 4500, currency: 'USD' });
      await published('PaymentRefunded', orderId, () => bus.publish([domainEvent('OrderRefunded', orderId, { orderId })]));
      const after = await server.query(ORDER_PAYMENTS, orderRefs(orderId), alice);
      expect(after.data?._entities[0].payment).toMatchObject({
        status: 'REFUNDED',
        capturedAmount: { amount: 4500, currency: 'USD' },
        refundedAmount: { amount: 4500 },
      });
      expect((await processor.ledger()).filter((e) => e.idempotencyKey.endsWith(orderId)).map((e) => e.operation)).toEqual([
        'authorize',
        'capture',
        'refund',
      ]);
    });

    it('shows a capture that failed on the order, lets only admins find, retry or void it, and counts it', async () => {
      const orderId = 'order-live-3';
      const bus = await deps.events();
      await published('PaymentAuthorized', orderId, () => bus.publish([placed(orderId, 'tok_visa'), reserved(orderId)]));
      captureDown = true;
      await bus.publish([domainEvent('OrderShipped', orderId, { orderId })]);
      await waitFor('the capture to fail', async () => (await store.orderPaymentState(orderId)).payment?.status === 'CAPTURE_FAILED');
      const seen = await server.query(ORDER_PAYMENTS, orderRefs(orderId), alice);
      expect(seen.data?._entities[0].payment).toMatchObject({ status: 'CAPTURE_FAILED', failureCode: 'processing_error', capturedAmount: null });
      const paymentId = seen.data?._entities[0].payment.id as string;
      expect(metricSample((await metricsText()).body, 'shop_payments_needing_attention', { status: 'CAPTURE_FAILED' })).toBeGreaterThanOrEqual(1);

      const ATTENTION = `{ paymentsNeedingAttention { id status failureCode } }`;
      const RETRY = `mutation ($id: ID!) { retryPayment(id: $id) { id status capturedAmount { amount } failureCode } }`;
      expect((await server.query(ATTENTION, {}, alice)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await server.query(RETRY, { id: paymentId }, alice)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await server.query(RETRY, { id: paymentId })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const listed = await server.query(ATTENTION, {}, admin);
      expect(listed.data?.paymentsNeedingAttention).toContainEqual({ id: paymentId, status: 'CAPTURE_FAILED', failureCode: 'processing_error' });

      // Still down: the retry answers with the payment still failed.
      expect((await server.query(RETRY, { id: paymentId }, admin)).data?.retryPayment).toMatchObject({ status: 'CAPTURE_FAILED' });
      captureDown = false;
      const captured = await published('PaymentCaptured', orderId, async () => {
        const retried = await server.query(RETRY, { id: paymentId }, admin);
        expect(retried.data?.retryPayment).toEqual({ id: paymentId, status: 'CAPTURED', capturedAmount: { amount: 4500 }, failureCode: null });
      });
      expect(captured.payload.amount).toEqual({ amount: 4500, currency: 'USD' });
      const again = await server.query(`mutation ($id: ID!) { voidPayment(id: $id) { id } }`, { id: paymentId }, admin);
      expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    });

    it('publishes PaymentFailed for a declined card and shows why, without a card', async () => {
      const orderId = 'order-live-2';
      const bus = await deps.events();
      const event = await published('PaymentFailed', orderId, () => bus.publish([placed(orderId, 'tok_insufficientFunds'), reserved(orderId)]));
      expect(event.payload).toEqual({ orderId, reason: 'PAYMENT_DECLINED', declineCode: 'insufficient_funds' });
      const res = await server.query(ORDER_PAYMENTS, orderRefs(orderId), alice);
      expect(res.errors).toBeUndefined();
      expect(res.data?._entities[0].payment).toMatchObject({ status: 'DECLINED', failureCode: 'insufficient_funds', method: null });
    });
  });
});
