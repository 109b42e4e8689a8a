/**
 * Checkout through the router, on the embedded stores and on the real ones
 * (PostgreSQL and Redis Streams): cart, order, the saga over events, payments and
 * stock, under concurrency, retries and redelivery.
 */
import { randomUUID } from 'node:crypto';
import { domainEvent } from '../../platform/events';
import { metricSample, waitFor } from '../../platform/testing';
import type { SimulatedCardProcessor } from '../../subgraphs/payment/provider/simulated';
import { realStoreVariants, startTestShop, type TestShop } from '../testing';

jest.setTimeout(180_000);

const ADDRESS = { line1: '1 Canal Street', city: 'Amsterdam', postalCode: '1012 AB', country: 'NL' };

describe.each(realStoreVariants())('checkout on $name', ({ backend, redis }) => {
  let shop: TestShop;
  let admin: string;
  let nextCustomer = 0;

  beforeAll(async () => {
    shop = await startTestShop({
      backend,
      redis,
      env: { EVENT_MAX_DELIVERIES: '3', EVENT_RECLAIM_IDLE_MS: '300' },
    });
    admin = await shop.login('admin@demo.shop');
  });
  afterAll(() => shop?.close());

  /** A new customer, signed in. */
  async function newCustomer(): Promise<string> {
    nextCustomer += 1;
    const res = await shop.query(`mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
      input: { email: `buyer-${nextCustomer}-${randomUUID().slice(0, 8)}@example.com`, password: 'long-enough-password', name: `Buyer ${nextCustomer}` },
    });
    if (!res.data) throw new Error(JSON.stringify(res.errors));
    return res.data.register.accessToken;
  }

  async function addToCart(token: string, productId: string, quantity: number) {
    return shop.query(
      `mutation ($input: CartLineInput!) { addToCart(input: $input) { lines { product { id } quantity unitPrice { amount } lineTotal { amount } } subtotal { amount } } }`,
      { input: { productId, quantity } },
      token,
    );
  }

  async function placeOrder(token: string, paymentToken = 'tok_visa', idempotencyKey: string = randomUUID()) {
    return shop.query(
      `mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { id status total { amount } } }`,
      { input: { idempotencyKey, shippingAddress: ADDRESS, paymentToken } },
      token,
    );
  }

  const ORDER = `query ($id: ID!) { order(id: $id) { id status failureReason total { amount } payment { status amount { amount } capturedAmount { amount } refundedAmount { amount } } } }`;

  /** Waits until the order leaves `from` (the saga runs in the background). */
  async function settled(orderId: string, token: string, from: string[] = ['PENDING']) {
    for (let i = 0; i < 300; i++) {
      const res = await shop.query(ORDER, { id: orderId }, token);
      const order = res.data?.order;
      if (order && !from.includes(order.status) && (order.status !== 'CONFIRMED' || order.payment)) return order;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`order ${orderId} stayed ${from.join('/')}`);
  }

  async function stockOf(productId: string) {
    const res = await shop.query(
      `query ($id: ID!) { product(id: $id) { availableQuantity stockLevels { warehouse { id } onHand reserved } } }`,
      { id: productId },
      admin,
    );
    const product = res.data!.product;
    const sum = (key: 'onHand' | 'reserved') => product.stockLevels.reduce((n: number, l: Record<string, number>) => n + l[key]!, 0);
    return { available: product.availableQuantity as number, onHand: sum('onHand'), reserved: sum('reserved') };
  }

  /** Gives a product exactly `units` in the first warehouse and none elsewhere. */
  async function setStock(productId: string, units: number) {
    for (const [i, warehouse] of shop.data.warehouses.entries()) {
      const res = await shop.query(
        `mutation ($input: SetStockInput!) { setStock(input: $input) { onHand } }`,
        { input: { productId, warehouseId: warehouse.id, onHand: i === 0 ? units : 0 } },
        admin,
      );
      expect(res.errors).toBeUndefined();
    }
  }

  const provider = () => (shop.subgraphs.get('payment')!.definition as unknown as { provider: SimulatedCardProcessor }).provider;
  const product = (n: number) => shop.data.products[n]!;

  it('prices the cart from the catalog and refuses unknown products and bad quantities', async () => {
    const token = await newCustomer();
    const res = await addToCart(token, product(1).id, 2);
    expect(res.errors).toBeUndefined();
    expect(res.data!.addToCart).toEqual({
      lines: [{ product: { id: product(1).id }, quantity: 2, unitPrice: { amount: product(1).priceAmount }, lineTotal: { amount: product(1).priceAmount * 2 } }],
      subtotal: { amount: product(1).priceAmount * 2 },
    });
    expect((await addToCart(token, 'no-such-product', 1)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await addToCart(token, product(1).id, 100)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await addToCart(token, product(1).id, -1)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const removed = await shop.query(
      `mutation ($input: CartLineInput!) { updateCartLine(input: $input) { lines { quantity } subtotal { amount } } }`,
      { input: { productId: product(1).id, quantity: 0 } },
      token,
    );
    expect(removed.data!.updateCartLine).toEqual({ lines: [], subtotal: { amount: 0 } });
    expect((await placeOrder(token)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('confirms a paid order, captures at shipment and refunds what was captured', async () => {
    const token = await newCustomer();
    await setStock(product(2).id, 10);
    await addToCart(token, product(2).id, 3);
    const placed = await placeOrder(token);
    expect(placed.errors).toBeUndefined();
    expect(placed.data!.placeOrder.status).toBe('PENDING');
    const total = product(2).priceAmount * 3;
    expect(placed.data!.placeOrder.total.amount).toBe(total);

    const confirmed = await settled(placed.data!.placeOrder.id, token);
    expect(confirmed).toMatchObject({ status: 'CONFIRMED', failureReason: null, payment: { status: 'AUTHORIZED', amount: { amount: total } } });
    expect(await stockOf(product(2).id)).toEqual({ available: 7, onHand: 10, reserved: 3 });

    const shipped = await shop.query(`mutation ($id: ID!) { shipOrder(id: $id) { status } }`, { id: confirmed.id }, admin);
    expect(shipped.data).toEqual({ shipOrder: { status: 'SHIPPED' } });
    const captured = await settled(confirmed.id, token, ['CONFIRMED']);
    expect(captured.status).toBe('SHIPPED');
    await waitFor('the payment to be captured', async () => (await shop.query(ORDER, { id: confirmed.id }, token)).data!.order.payment.status === 'CAPTURED', 15_000);
    await waitFor('the shipped units to leave stock', async () => (await stockOf(product(2).id)).onHand === 7, 15_000);
    expect(await stockOf(product(2).id)).toEqual({ available: 7, onHand: 7, reserved: 0 });

    const refunded = await shop.query(`mutation ($id: ID!) { refundOrder(id: $id) { status } }`, { id: confirmed.id }, admin);
    expect(refunded.data).toEqual({ refundOrder: { status: 'REFUNDED' } });
    await waitFor('the payment to be refunded', async () => (await shop.query(ORDER, { id: confirmed.id }, token)).data!.order.payment.status === 'REFUNDED', 15_000);
    const after = (await shop.query(ORDER, { id: confirmed.id }, token)).data!.order;
    expect(after.payment.refundedAmount).toEqual({ amount: total });
    expect(after.payment.capturedAmount).toEqual({ amount: total });

    const again = await shop.query(`mutation ($id: ID!) { refundOrder(id: $id) { status } }`, { id: confirmed.id }, admin);
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    const asCustomer = await shop.query(`mutation ($id: ID!) { shipOrder(id: $id) { status } }`, { id: confirmed.id }, token);
    expect(asCustomer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('marks a declined card PAYMENT_FAILED and puts the stock back', async () => {
    const token = await newCustomer();
    await setStock(product(3).id, 5);
    await addToCart(token, product(3).id, 2);
    const placed = await placeOrder(token, 'tok_chargeDeclined');
    const order = await settled(placed.data!.placeOrder.id, token);
    expect(order).toMatchObject({ status: 'PAYMENT_FAILED', failureReason: 'PAYMENT_DECLINED' });
    await waitFor('the reservation to be released', async () => (await stockOf(product(3).id)).reserved === 0, 15_000);
    expect(await stockOf(product(3).id)).toEqual({ available: 5, onHand: 5, reserved: 0 });
  });

  it('retries a transient processor error and then confirms', async () => {
    const token = await newCustomer();
    await setStock(product(4).id, 5);
    await addToCart(token, product(4).id, 1);
    const placed = await placeOrder(token, 'tok_processingError');
    const order = await settled(placed.data!.placeOrder.id, token);
    expect(order).toMatchObject({ status: 'CONFIRMED', payment: { status: 'AUTHORIZED' } });
    expect(await provider().attemptsOf(`authorize:${order.id}`)).toBe(3);
  });

  it('voids the payment and returns the stock when a customer cancels before shipment', async () => {
    const token = await newCustomer();
    await setStock(product(5).id, 4);
    await addToCart(token, product(5).id, 4);
    const placed = await placeOrder(token);
    const confirmed = await settled(placed.data!.placeOrder.id, token);
    expect(confirmed.status).toBe('CONFIRMED');
    expect((await stockOf(product(5).id)).available).toBe(0);
    const cancelled = await shop.query(`mutation ($id: ID!) { cancelOrder(id: $id) { status } }`, { id: confirmed.id }, token);
    expect(cancelled.data).toEqual({ cancelOrder: { status: 'CANCELLED' } });
    await waitFor('the payment to be voided', async () => (await shop.query(ORDER, { id: confirmed.id }, token)).data!.order.payment.status === 'VOIDED', 15_000);
    await waitFor('the stock to be available again', async () => (await stockOf(product(5).id)).available === 4, 15_000);
    expect(await stockOf(product(5).id)).toEqual({ available: 4, onHand: 4, reserved: 0 });
  });

  it('sells the last units exactly once when many customers order at the same moment', async () => {
    const units = 3;
    const buyers = 10;
    await setStock(product(6).id, units);
    const tokens = await Promise.all(Array.from({ length: buyers }, () => newCustomer()));
    for (const token of tokens) expect((await addToCart(token, product(6).id, 1)).errors).toBeUndefined();
    const placed = await Promise.all(tokens.map((token) => placeOrder(token)));
    const orders = await Promise.all(placed.map((res, i) => settled(res.data!.placeOrder.id, tokens[i]!)));
    const statuses = orders.map((o) => o.status).sort();
    expect(statuses.filter((s) => s === 'CONFIRMED')).toHaveLength(units);
    expect(statuses.filter((s) => s === 'REJECTED')).toHaveLength(buyers - units);
    expect(orders.filter((o) => o.status === 'REJECTED').every((o) => o.failureReason === 'OUT_OF_STOCK' && o.payment === null)).toBe(true);
    expect(await stockOf(product(6).id)).toEqual({ available: 0, onHand: units, reserved: units });
  });

  it('turns one idempotency key sent many times at once into one order and one authorization', async () => {
    const token = await newCustomer();
    await setStock(product(7).id, 20);
    await addToCart(token, product(7).id, 2);
    const key = randomUUID();
    const results = await Promise.all(Array.from({ length: 12 }, () => placeOrder(token, 'tok_visa', key)));
    const ids = new Set(results.map((r) => r.data?.placeOrder.id));
    expect(results.every((r) => r.errors === undefined)).toBe(true);
    expect(ids.size).toBe(1);
    const [orderId] = [...ids] as string[];
    expect((await settled(orderId!, token)).status).toBe('CONFIRMED');
    expect((await provider().ledger()).filter((e) => e.operation === 'authorize' && e.idempotencyKey === `authorize:${orderId}`)).toHaveLength(1);
    expect(await stockOf(product(7).id)).toEqual({ available: 18, onHand: 20, reserved: 2 });

    const different = await shop.query(
      `mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
      { input: { idempotencyKey: key, shippingAddress: { ...ADDRESS, city: 'Utrecht' }, paymentToken: 'tok_visa' } },
      token,
    );
    expect(different.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('changes nothing when an event is delivered again after it was processed', async () => {
    const token = await newCustomer();
    await setStock(product(8).id, 6);
    await addToCart(token, product(8).id, 2);
    const placed = await placeOrder(token);
    const order = await settled(placed.data!.placeOrder.id, token);
    expect(order.status).toBe('CONFIRMED');
    const before = await stockOf(product(8).id);
    const authorizations = (await provider().ledger()).length;

    // Every OrderPlaced the order subgraph published, sent again as a crashed consumer's redelivery would be.
    const bus = await shop.deps.events();
    const published = shop.events.filter((e) => e.aggregateId === order.id && e.type === 'OrderPlaced');
    expect(published).toHaveLength(1);
    // Each consumer of OrderPlaced counts a handled delivery: the redelivery reached them all.
    const metrics = async () => (await fetch(shop.url.replace(/\/graphql$/, '/metrics'))).text();
    const handled = (text: string) =>
      ['inventory', 'payment', 'recommendation'].map((group) => metricSample(text, 'shop_events_handled_total', { group, outcome: 'ok' }));
    const handledBefore = handled(await metrics());
    await bus.publish(published);
    await waitFor('every consumer to handle the redelivery', async () => handled(await metrics()).every((n, i) => n > handledBefore[i]!), 15_000);
    expect(await stockOf(product(8).id)).toEqual(before);
    expect((await provider().ledger()).length).toBe(authorizations);
    expect((await shop.query(ORDER, { id: order.id }, token)).data!.order.status).toBe('CONFIRMED');
  });

  it('deletes event records past their retention in every subgraph that keeps them', () => {
    const sweeping = [...shop.subgraphs].filter(([, { definition }]) => definition.workers?.some((w) => w.name === 'event-retention'));
    expect(sweeping.map(([name]) => name).sort()).toEqual(['inventory', 'order', 'payment', 'recommendation']);
  });

  it('sends a message that keeps failing to the dead letters after the configured attempts', async () => {
    const bus = await shop.deps.events();
    const poison = domainEvent('OrderPlaced', `poison-${randomUUID()}`, {
      orderId: `poison-${randomUUID()}`,
      customerId: 'nobody',
      lines: [{ productId: product(9).id, quantity: -5, unitPrice: { amount: 100, currency: 'USD' } }],
      total: { amount: -500, currency: 'USD' },
      paymentToken: 'tok_visa',
    });
    await bus.publish([poison]);
    await waitFor('the poison event to be dead-lettered', async () => (await bus.deadLetters(100)).some((d) => d.event.id === poison.id && d.group === 'inventory'), 30_000);
    const dead = (await bus.deadLetters(100)).find((d) => d.event.id === poison.id && d.group === 'inventory')!;
    expect(dead.deliveries).toBe(3);
    const visible = await shop.query(`{ deadLetters(first: 50) { eventId type group deliveries lastError } }`, undefined, admin);
    expect(visible.errors).toBeUndefined();
    expect(visible.data!.deadLetters).toContainEqual(expect.objectContaining({ eventId: poison.id, type: 'OrderPlaced', group: 'inventory', deliveries: 3 }));
    const asCustomer = await shop.query(`{ deadLetters { eventId } }`, undefined, await newCustomer());
    expect(asCustomer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

