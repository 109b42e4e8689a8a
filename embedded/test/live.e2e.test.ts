/**
 * Live updates through the router with a real graphql-ws client: subscriptions owned by
 * a subgraph, completed with fields of the others, fed by committed changes (on the
 * embedded stores with in-process pub/sub, and on PostgreSQL with Redis).
 */
import { randomUUID } from 'node:crypto';
import { stockTopic } from '../../platform/pubsub';
import { liveClient, waitFor } from '../../platform/testing';
import { realStoreVariants, startTestShop, type TestShop } from '../testing';

jest.setTimeout(180_000);

const ADDRESS = { line1: '1 Canal Street', city: 'Amsterdam', postalCode: '1012 AB', country: 'NL' };
const WATCH_ORDER = `subscription ($orderId: ID!) { orderUpdated(orderId: $orderId) { id status lines { quantity product { name } } } }`;
const WATCH_STOCK = `subscription ($productId: ID!) { stockChanged(productId: $productId) { availableQuantity name price { amount } } }`;


describe.each(realStoreVariants())('live updates through the router on $name', ({ backend, redis }) => {
  let shop: TestShop;
  let admin: string;
  const clients: ReturnType<typeof liveClient>[] = [];

  beforeAll(async () => {
    // As in checkout: a delivery left pending is taken over quickly instead of after 30 s.
    shop = await startTestShop({ backend, redis, env: { EVENT_RECLAIM_IDLE_MS: '300' } });
    admin = await shop.login('admin@demo.shop');
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
  });
  afterAll(() => shop?.close());

  const connect = (token?: string) => {
    const client = liveClient(shop.router.url, token ? { authorization: `Bearer ${token}` } : {});
    clients.push(client);
    return client;
  };

  async function newCustomer(): Promise<string> {
    const res = await shop.query(`mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
      input: { email: `live-${randomUUID().slice(0, 8)}@example.com`, password: 'long-enough-password', name: 'Live Buyer' },
    });
    if (!res.data) throw new Error(JSON.stringify(res.errors));
    return res.data.register.accessToken;
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

  /** Resolves once inventory listens for changes of the product on `count` subscriptions. */
  async function watched(productId: string, count = 1) {
    const pubsub = await shop.deps.pubsub();
    await waitFor(`a watcher of ${productId}`, () => pubsub.subscriberCount(stockTopic(productId)) >= count);
  }

  async function placeOrder(token: string, productId: string, quantity: number): Promise<string> {
    const added = await shop.query(`mutation ($input: CartLineInput!) { addToCart(input: $input) { subtotal { amount } } }`, { input: { productId, quantity } }, token);
    expect(added.errors).toBeUndefined();
    const placed = await shop.query(
      `mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }`,
      { input: { idempotencyKey: randomUUID(), shippingAddress: ADDRESS, paymentToken: 'tok_visa' } },
      token,
    );
    expect(placed.errors).toBeUndefined();
    return placed.data!.placeOrder.id;
  }

  async function orderStatus(orderId: string, token: string): Promise<string> {
    return (await shop.query(`query ($id: ID!) { order(id: $id) { status } }`, { id: orderId }, token)).data!.order.status;
  }

  it('sends stock changes with catalog fields from another subgraph after a stock count and after a confirmed order', async () => {
    const product = shop.data.products[3]!;
    const watch = connect().subscribe(WATCH_STOCK, { productId: product.id });
    await watched(product.id);
    const expected = (availableQuantity: number) => ({ data: { stockChanged: { availableQuantity, name: product.name, price: { amount: product.priceAmount } } } });

    await setStock(product.id, 10);
    // One event per warehouse counted; the last carries the final level.
    await watch.waitFor(shop.data.warehouses.length);
    expect(watch.payloads.at(-1)).toEqual(expected(10));
    for (const payload of watch.payloads) expect(payload.errors).toBeUndefined();

    const buyer = await newCustomer();
    const counted = watch.payloads.length;
    const orderId = await placeOrder(buyer, product.id, 3);
    await waitFor('the order to be confirmed', async () => (await orderStatus(orderId, buyer)) === 'CONFIRMED');
    await watch.waitFor(counted + 1);
    // The reservation is the only stock change of a confirmed order.
    expect(watch.payloads.slice(counted)).toEqual([expected(7)]);

    const shipped = await shop.query(`mutation ($id: ID!) { shipOrder(id: $id) { status } }`, { id: orderId }, admin);
    expect(shipped.errors).toBeUndefined();
    // Shipping takes the units out of the warehouse: on hand and reserved drop alike.
    await watch.waitFor(counted + 2);
    expect(watch.payloads.slice(counted)).toEqual([expected(7), expected(7)]);
  });

  it('delivers one change to every subscriber, signed in or anonymous, and nothing to watchers of other products', async () => {
    const [product, other] = [shop.data.products[5]!, shop.data.products[6]!];
    const anonymous = connect().subscribe(WATCH_STOCK, { productId: product.id });
    const customer = connect(await newCustomer()).subscribe(WATCH_STOCK, { productId: product.id });
    const elsewhere = connect().subscribe(WATCH_STOCK, { productId: other.id });
    await watched(product.id, 2);
    await watched(other.id);
    const res = await shop.query(
      `mutation ($input: SetStockInput!) { setStock(input: $input) { onHand } }`,
      { input: { productId: product.id, warehouseId: shop.data.warehouses[0]!.id, onHand: 42 } },
      admin,
    );
    expect(res.errors).toBeUndefined();
    const [a] = await anonymous.waitFor(1);
    const [c] = await customer.waitFor(1);
    expect(a).toEqual(c);
    expect(a!.data!.stockChanged.name).toBe(product.name);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([anonymous.payloads.length, customer.payloads.length, elsewhere.payloads.length]).toEqual([1, 1, 0]);
  });

  it('refuses a connection whose token is not valid with 4403 at the router', async () => {
    const forged = connect('not-a-token');
    const watch = forged.subscribe(WATCH_STOCK, { productId: shop.data.products[3]!.id });
    await watch.ended();
    expect(watch.payloads).toEqual([]);
    expect(forged.closes).toEqual([4403]);
  });

  it('shows a checkout live to its customer: PENDING, CONFIRMED, SHIPPED in order, with catalog fields', async () => {
    const product = shop.data.products[8]!;
    await setStock(product.id, 5);
    const buyer = await newCustomer();
    const orderId = await placeOrder(buyer, product.id, 2);
    // The id is known only now: the order may be confirmed already, so what is seen is a suffix of the lifecycle.
    const watch = connect(buyer).subscribe(WATCH_ORDER, { orderId });
    await waitFor('CONFIRMED to be seen', () => watch.payloads.some((p) => p.data?.orderUpdated.status === 'CONFIRMED'));
    const shipped = await shop.query(`mutation ($id: ID!) { shipOrder(id: $id) { status } }`, { id: orderId }, admin);
    expect(shipped.errors).toBeUndefined();
    await waitFor('SHIPPED to be seen', () => watch.payloads.some((p) => p.data?.orderUpdated.status === 'SHIPPED'));
    for (const payload of watch.payloads) {
      expect(payload).toEqual({ data: { orderUpdated: { id: orderId, status: expect.any(String), lines: [{ quantity: 2, product: { name: product.name } }] } } });
    }
    const seen = watch.payloads.map((p) => p.data!.orderUpdated.status);
    expect([['PENDING', 'CONFIRMED', 'SHIPPED'], ['CONFIRMED', 'SHIPPED']]).toContainEqual(seen);
  });

  it('refuses to show an order to another customer (FORBIDDEN) or to an anonymous caller (UNAUTHENTICATED)', async () => {
    const product = shop.data.products[9]!;
    await setStock(product.id, 5);
    const orderId = await placeOrder(await newCustomer(), product.id, 1);
    // Another customer is refused by the order subgraph, which knows whose order it is: one payload with the error.
    const other = connect(await newCustomer()).subscribe(WATCH_ORDER, { orderId });
    await other.ended();
    expect(other.payloads).toHaveLength(1);
    expect(other.payloads[0]!.data ?? null).toBeNull();
    expect(other.payloads[0]!.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    // An anonymous caller is refused by the router's guard (orderUpdated needs a token) before anything opens upstream.
    const anonymous = connect(undefined).subscribe(WATCH_ORDER, { orderId });
    await anonymous.ended();
    expect(anonymous.payloads).toEqual([]);
    expect((anonymous.error as { extensions?: { code?: string } }[]).map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });
});
