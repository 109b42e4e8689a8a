/**
 * The order subgraph's checkout over HTTP, on each store backend, priced by the real
 * product-search subgraph: carts, placing orders idempotently, the saga's events, and the
 * shop actions that move an order on.
 */
import { randomUUID } from 'node:crypto';
import { domainEvent, type EventEnvelope } from '../../../platform/events';
import { postGraphQL, serveTestSubgraph, storeBackends, testDeps, type GraphQLResponse, type TestDeps } from '../../../platform/testing';
import { httpProductPrices } from '../catalog/http';
import type { ProductPrices } from '../catalog/port';
import type { OrderStatus } from '../order-lifecycle';
import { OrderService } from '../order-service';
import type { NewOrder, OrderRecord, OrderStore } from '../store/port';
import { openOrderStore, orderSubgraph } from '../subgraph';
import { catalogProducts, outboxEvents, productId, startCatalog } from './helpers';

const LAMP = productId(0); // $19.99
const RUG = productId(1); // $125.00
const BULB = productId(2); // $3.50
const REPRICED = productId(3); // $999.00 until a test changes it

const address = { line1: 'Prinsengracht 263', line2: null, city: 'Amsterdam', region: null, postalCode: '1016 GV', country: 'NL' };

const CART_FIELDS = `id subtotal { amount currency formatted } lines { product { id } quantity unitPrice { amount currency formatted } lineTotal { amount } }`;
const ADD = `mutation ($input: CartLineInput!) { addToCart(input: $input) { ${CART_FIELDS} } }`;
const UPDATE = `mutation ($input: CartLineInput!) { updateCartLine(input: $input) { ${CART_FIELDS} } }`;
const CARTS = `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Customer { id cart { ${CART_FIELDS} } } } }`;
const ORDER_FIELDS = `id status failureReason placedAt total { amount currency } customer { id }
  shippingAddress { line1 line2 city region postalCode country } lines { product { id } quantity unitPrice { amount } lineTotal { amount } }`;
const PLACE = `mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { ${ORDER_FIELDS} } }`;
const ORDER = `query ($id: ID!) { order(id: $id) { id status failureReason } }`;
const action = (name: string) => `mutation ($id: ID!) { ${name}(id: $id) { id status failureReason } }`;

const codes = (res: GraphQLResponse) => res.errors?.map((e) => e.extensions?.code);

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(storeBackends())('checkout on %s', (backend) => {
  let deps: TestDeps;
  let store: OrderStore;
  let service: OrderService;
  let catalog: Awaited<ReturnType<typeof startCatalog>>;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let admin: string;
  let catalogCalls = 0;

  beforeAll(async () => {
    deps = await testDeps(backend, ['order', 'product-search']);
    catalog = await startCatalog(deps, catalogProducts([1999, 12500, 350, 99900, 5]));
    store = await openOrderStore(deps);
    const http = httpProductPrices({ url: () => deps.peers.url('product-search'), logger: deps.logger });
    const counting: ProductPrices = {
      pricesOf: (ids, context) => {
        catalogCalls += 1;
        return http.pricesOf(ids, context);
      },
    };
    // The relay publishes on notify after each commit; a long poll keeps its idle checks out of statement counts.
    const definition = orderSubgraph(store, { ...deps, config: { ...deps.config, OUTBOX_POLL_MS: 60_000 } }, { prices: counting });
    service = definition.service;
    server = await serveTestSubgraph(definition, deps);
    admin = await deps.bearer(randomUUID(), ['customer', 'admin']);
  });

  afterAll(async () => {
    await server?.stop();
    await catalog?.stop();
    await deps?.release();
  });

  /** A signed-in customer with a fresh id. */
  async function customer() {
    const id = randomUUID();
    return { id, auth: await deps.bearer(id) };
  }

  async function fill(auth: string, lines: [string, number][]) {
    for (const [id, quantity] of lines) {
      const res = await server.query(ADD, { input: { productId: id, quantity } }, auth);
      expect(res.errors).toBeUndefined();
    }
  }

  const checkout = (key: string, overrides: Record<string, unknown> = {}) => ({
    input: { idempotencyKey: key, shippingAddress: address, paymentToken: 'tok_visa_4242', ...overrides },
  });

  /** Orders of one status for a customer, written directly (the saga's earlier steps are other subgraphs'). */
  async function ordersIn(status: OrderStatus, customerId = randomUUID(), count = 1): Promise<{ ids: string[]; customerId: string }> {
    const ids = Array.from({ length: count }, () => randomUUID());
    await store.insertOrders(
      ids.map(
        (id): NewOrder => ({
          id,
          customerId,
          status,
          currency: 'USD',
          totalAmount: 2 * 1999,
          placedAt: new Date(),
          shippingAddress: address,
          lines: [{ productId: LAMP, quantity: 2, unitPriceAmount: 1999 }],
        }),
      ),
    );
    return { ids, customerId };
  }

  const statusOf = async (id: string) => (await store.ordersByIds([id]))[0];

  describe('the cart', () => {
    it('asks anonymous callers to sign in', async () => {
      for (const [query, variables] of [
        [ADD, { input: { productId: LAMP, quantity: 1 } }],
        [UPDATE, { input: { productId: LAMP, quantity: 1 } }],
        [PLACE, checkout('k')],
      ] as const) {
        expect(codes(await server.query(query, variables))).toEqual(['UNAUTHENTICATED']);
        expect(codes(await server.query(query, variables, 'Bearer not-a-token'))).toEqual(['UNAUTHENTICATED']);
      }
      const c = await customer();
      expect(codes(await server.query(CARTS, { reps: [{ __typename: 'Customer', id: c.id }] }))).toEqual(['UNAUTHENTICATED']);
    });

    it('starts empty, priced at zero in the shop currency', async () => {
      const c = await customer();
      const res = await server.query(CARTS, { reps: [{ __typename: 'Customer', id: c.id }] }, c.auth);
      expect(res.errors).toBeUndefined();
      expect(res.data?._entities).toEqual([{ id: c.id, cart: { id: c.id, lines: [], subtotal: { amount: 0, currency: 'USD', formatted: '$0.00' } } }]);
    });

    it('prices lines from the catalog, adds units to a line it holds, and keeps lines in the order added', async () => {
      const c = await customer();
      await fill(c.auth, [
        [LAMP, 2],
        [RUG, 1],
      ]);
      const res = await server.query(ADD, { input: { productId: LAMP, quantity: 1 } }, c.auth);
      expect(res.errors).toBeUndefined();
      expect(res.data?.addToCart).toEqual({
        id: c.id,
        subtotal: { amount: 3 * 1999 + 12500, currency: 'USD', formatted: '$184.97' },
        lines: [
          {
            product: { id: LAMP },
            quantity: 3,
            unitPrice: { amount: 1999, currency: 'USD', formatted: '$19.99' },
            lineTotal: { amount: 5997 },
          },
          {
            product: { id: RUG },
            quantity: 1,
            unitPrice: { amount: 12500, currency: 'USD', formatted: '$125.00' },
            lineTotal: { amount: 12500 },
          },
        ],
      });
    });

    it('takes no price from the client and follows the catalog when a price changes', async () => {
      const c = await customer();
      const withPrice = await server.query(
        ADD,
        { input: { productId: REPRICED, quantity: 1, unitPrice: 1 } },
        c.auth,
      );
      expect(codes(withPrice)).toEqual(['BAD_USER_INPUT']);
      await fill(c.auth, [[REPRICED, 2]]);

      const repriced = await postGraphQL(
        catalog.url,
        `mutation ($id: ID!) { updateProduct(id: $id, input: { price: 2499 }) { price { amount } } }`,
        { id: REPRICED },
        { authorization: admin },
      );
      expect(repriced.errors).toBeUndefined();
      const res = await server.query(CARTS, { reps: [{ __typename: 'Customer', id: c.id }] }, c.auth);
      expect(res.data?._entities[0].cart.lines[0]).toMatchObject({ quantity: 2, unitPrice: { amount: 2499 }, lineTotal: { amount: 4998 } });
      expect(res.data?._entities[0].cart.subtotal.amount).toBe(4998);
    });

    it.each([
      ['0 units', ADD, 0],
      ['100 units', ADD, 100],
      ['negative units', ADD, -1],
      ['100 units set', UPDATE, 100],
      ['negative units set', UPDATE, -3],
    ])('refuses %s with BAD_USER_INPUT', async (_what, mutation, quantity) => {
      const c = await customer();
      const res = await server.query(mutation, { input: { productId: LAMP, quantity } }, c.auth);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors?.[0]?.extensions?.field).toBe('input.quantity');
    });

    it('refuses a quantity that is not a whole number', async () => {
      const c = await customer();
      for (const mutation of [ADD, UPDATE]) {
        expect(codes(await server.query(mutation, { input: { productId: LAMP, quantity: 1.5 } }, c.auth))).toEqual(['BAD_USER_INPUT']);
      }
    });

    it('refuses to take a line past 99 units and leaves it as it was', async () => {
      const c = await customer();
      await fill(c.auth, [[BULB, 98]]);
      const res = await server.query(ADD, { input: { productId: BULB, quantity: 2 } }, c.auth);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      const cart = await server.query(CARTS, { reps: [{ __typename: 'Customer', id: c.id }] }, c.auth);
      expect(cart.data?._entities[0].cart.lines.map((l: { quantity: number }) => l.quantity)).toEqual([98]);
      expect((await server.query(ADD, { input: { productId: BULB, quantity: 1 } }, c.auth)).data?.addToCart.lines[0].quantity).toBe(99);
    });

    it('refuses products the catalog does not have', async () => {
      const c = await customer();
      for (const mutation of [ADD, UPDATE]) {
        const res = await server.query(mutation, { input: { productId: 'no-such-product', quantity: 1 } }, c.auth);
        expect(codes(res)).toEqual(['BAD_USER_INPUT']);
        expect(res.errors?.[0]?.extensions?.field).toBe('input.productId');
      }
      expect(await store.cartLinesOf([c.id])).toEqual([]);
    });

    it('refuses a product the catalog archived, saying so, while a cart holding it can still drop it', async () => {
      const created = await postGraphQL(
        catalog.url,
        `mutation ($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
        { input: { sku: 'ARCHIVED-1', name: 'Retired Lamp', description: '', price: 800, categoryId: 'cat-things', brandId: 'brand-acme' } },
        { authorization: admin },
      );
      expect(created.errors).toBeUndefined();
      const retired: string = created.data!.createProduct.id;
      const c = await customer();
      await fill(c.auth, [
        [retired, 1],
        [LAMP, 1],
      ]);
      const archived = await postGraphQL(catalog.url, `mutation ($id: ID!) { archiveProduct(id: $id) { archived } }`, { id: retired }, { authorization: admin });
      expect(archived.data?.archiveProduct).toEqual({ archived: true });

      for (const [mutation, quantity] of [[ADD, 1], [UPDATE, 3]] as const) {
        const res = await server.query(mutation, { input: { productId: retired, quantity } }, c.auth);
        expect(codes(res)).toEqual(['BAD_USER_INPUT']);
        expect(res.errors?.[0]?.extensions?.field).toBe('input.productId');
        expect(res.errors?.[0]?.message).toMatch(/archived and no longer sold/);
      }
      expect(await store.cartLinesOf([c.id])).toEqual([
        expect.objectContaining({ productId: retired, quantity: 1 }),
        expect.objectContaining({ productId: LAMP, quantity: 1 }),
      ]);
      // The cart shows only what is still sold, and checking out asks for the archived line to go.
      const cart = await server.query(CARTS, { reps: [{ __typename: 'Customer', id: c.id }] }, c.auth);
      expect(cart.data?._entities[0].cart.lines.map((l: { product: { id: string } }) => l.product.id)).toEqual([LAMP]);
      const place = await server.query(PLACE, checkout(randomUUID()), c.auth);
      expect(codes(place)).toEqual(['BAD_USER_INPUT']);
      expect(place.errors?.[0]?.extensions?.productIds).toEqual([retired]);
      const dropped = await server.query(UPDATE, { input: { productId: retired, quantity: 0 } }, c.auth);
      expect(dropped.errors).toBeUndefined();
      expect(await store.cartLinesOf([c.id])).toEqual([expect.objectContaining({ productId: LAMP })]);
    });

    it('sets a line with updateCartLine and removes it at 0', async () => {
      const c = await customer();
      await fill(c.auth, [
        [LAMP, 1],
        [RUG, 1],
      ]);
      const set = await server.query(UPDATE, { input: { productId: LAMP, quantity: 5 } }, c.auth);
      expect(set.data?.updateCartLine.lines.map((l: { quantity: number }) => l.quantity)).toEqual([5, 1]);
      const added = await server.query(UPDATE, { input: { productId: BULB, quantity: 2 } }, c.auth);
      expect(added.data?.updateCartLine.lines.map((l: { product: { id: string } }) => l.product.id)).toEqual([LAMP, RUG, BULB]);
      const removed = await server.query(UPDATE, { input: { productId: RUG, quantity: 0 } }, c.auth);
      expect(removed.errors).toBeUndefined();
      expect(removed.data?.updateCartLine.lines.map((l: { product: { id: string } }) => l.product.id)).toEqual([LAMP, BULB]);
      expect(removed.data?.updateCartLine.subtotal.amount).toBe(5 * 1999 + 2 * 350);
      // A product the catalog no longer has can still be taken out.
      const gone = await server.query(UPDATE, { input: { productId: 'no-such-product', quantity: 0 } }, c.auth);
      expect(gone.errors).toBeUndefined();
    });

    it("shows a cart to its owner and to admins; anyone else gets FORBIDDEN and sees none of it", async () => {
      const owner = await customer();
      const other = await customer();
      await fill(owner.auth, [[RUG, 1]]);
      const reps = [{ __typename: 'Customer', id: owner.id }];
      const asAdmin = await server.query(CARTS, { reps }, admin);
      expect(asAdmin.errors).toBeUndefined();
      expect(asAdmin.data?._entities[0].cart.subtotal.amount).toBe(12500);
      const asOther = await server.query(CARTS, { reps }, other.auth);
      expect(codes(asOther)).toEqual(['FORBIDDEN']);
      expect(JSON.stringify(asOther.data)).not.toContain(RUG);
    });

    it("reads and prices many customers' carts with one cart statement and one catalog call", async () => {
      const buyers = await Promise.all(Array.from({ length: 5 }, () => customer()));
      for (const [i, b] of buyers.entries()) await fill(b.auth, [[LAMP, i + 1], [BULB, 1]]);
      const reps = buyers.map((b) => ({ __typename: 'Customer', id: b.id }));
      const statements = store.statementCount();
      const calls = catalogCalls;
      const res = await server.query(CARTS, { reps }, admin);
      expect(res.errors).toBeUndefined();
      expect(store.statementCount() - statements).toBe(1);
      expect(catalogCalls - calls).toBe(1);
      expect(res.data?._entities.map((e: { cart: { subtotal: { amount: number } } }) => e.cart.subtotal.amount)).toEqual(
        buyers.map((_, i) => (i + 1) * 1999 + 350),
      );
    });

    it('asks the catalog once for a cart change', async () => {
      const c = await customer();
      await fill(c.auth, [
        [LAMP, 1],
        [RUG, 1],
      ]);
      const calls = catalogCalls;
      await server.query(ADD, { input: { productId: BULB, quantity: 1 } }, c.auth);
      expect(catalogCalls - calls).toBe(1);
    });

    it('answers SUBGRAPH_UNAVAILABLE, changing nothing, when the catalog does not answer', async () => {
      const c = await customer();
      deps.peers.set('product-search', 'http://127.0.0.1:1/graphql');
      try {
        expect(codes(await server.query(ADD, { input: { productId: LAMP, quantity: 1 } }, c.auth))).toEqual(['SUBGRAPH_UNAVAILABLE']);
      } finally {
        deps.peers.set('product-search', catalog.url);
      }
      expect(await store.cartLinesOf([c.id])).toEqual([]);
    });
  });

  describe('placing an order', () => {
    it('places the cart as a PENDING order priced from the catalog, empties the cart and writes OrderPlaced with it', async () => {
      const c = await customer();
      await fill(c.auth, [
        [LAMP, 3],
        [RUG, 1],
      ]);
      const res = await postGraphQL(server.url, PLACE, checkout('order-1'), { authorization: c.auth, 'x-request-id': 'req-place-1' });
      expect(res.errors).toBeUndefined();
      const order = res.data?.placeOrder;
      expect(order).toMatchObject({
        status: 'PENDING',
        failureReason: null,
        total: { amount: 3 * 1999 + 12500, currency: 'USD' },
        customer: { id: c.id },
        shippingAddress: address,
        lines: [
          { product: { id: LAMP }, quantity: 3, unitPrice: { amount: 1999 }, lineTotal: { amount: 5997 } },
          { product: { id: RUG }, quantity: 1, unitPrice: { amount: 12500 }, lineTotal: { amount: 12500 } },
        ],
      });
      expect(await store.cartLinesOf([c.id])).toEqual([]);

      const events = await outboxEvents(store, order.id);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'OrderPlaced',
        requestId: 'req-place-1',
        payload: {
          orderId: order.id,
          customerId: c.id,
          lines: [
            { productId: LAMP, quantity: 3, unitPrice: { amount: 1999, currency: 'USD' } },
            { productId: RUG, quantity: 1, unitPrice: { amount: 12500, currency: 'USD' } },
          ],
          total: { amount: 18497, currency: 'USD' },
          paymentToken: 'tok_visa_4242',
        },
      });
      // The order row keeps no payment token.
      expect(JSON.stringify(await store.ordersByIds([order.id]))).not.toContain('tok_visa');
    });

    it('publishes OrderPlaced to the bus after the order commits', async () => {
      const seen: EventEnvelope[] = [];
      const subscription = (await deps.events()).subscribe('test-observer', ['OrderPlaced'], async (event) => {
        seen.push(event);
      });
      try {
        const c = await customer();
        await fill(c.auth, [[BULB, 4]]);
        const placed = await server.query(PLACE, checkout('order-published'), c.auth);
        const id = placed.data?.placeOrder.id;
        const event = await waitFor(async () => seen.find((e) => e.aggregateId === id), 'OrderPlaced on the bus');
        expect(event.payload).toMatchObject({ orderId: id, total: { amount: 1400, currency: 'USD' } });
        await waitFor(async () => ((await outboxEvents(store, id))[0]?.publishedAt ? true : undefined), 'the outbox row marked published');
      } finally {
        await subscription.close();
      }
    });

    it('returns the same order for the same key and input, also after the cart changed again', async () => {
      const c = await customer();
      await fill(c.auth, [[LAMP, 1]]);
      const first = await server.query(PLACE, checkout('retry-key'), c.auth);
      await fill(c.auth, [[RUG, 2]]);
      const again = await server.query(PLACE, checkout('retry-key', { shippingAddress: { ...address, country: 'nl' } }), c.auth);
      expect(again.errors).toBeUndefined();
      expect(again.data?.placeOrder.id).toBe(first.data?.placeOrder.id);
      expect(await store.recentOrdersOfCustomers([c.id], 10)).toHaveLength(1);
      expect(await outboxEvents(store, first.data?.placeOrder.id, 'OrderPlaced')).toHaveLength(1);
      expect((await store.cartLinesOf([c.id])).map((l) => l.productId)).toEqual([RUG]);
    });

    it.each([
      ['another payment token', { paymentToken: 'tok_other' }],
      ['another address', { shippingAddress: { ...address, line1: 'Dam 1' } }],
    ])('refuses the same key with %s as IDEMPOTENCY_KEY_REUSED and places nothing', async (_what, overrides) => {
      const c = await customer();
      await fill(c.auth, [[LAMP, 1]]);
      const first = await server.query(PLACE, checkout('reused-key'), c.auth);
      expect(first.errors).toBeUndefined();
      await fill(c.auth, [[LAMP, 1]]);
      const reused = await server.query(PLACE, checkout('reused-key', overrides), c.auth);
      expect(codes(reused)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
      expect(await store.recentOrdersOfCustomers([c.id], 10)).toHaveLength(1);
      expect(await store.cartLinesOf([c.id])).toHaveLength(1);
    });

    it('keeps idempotency keys per customer', async () => {
      const a = await customer();
      const b = await customer();
      await fill(a.auth, [[LAMP, 1]]);
      await fill(b.auth, [[LAMP, 1]]);
      const fromA = await server.query(PLACE, checkout('shared-key'), a.auth);
      const fromB = await server.query(PLACE, checkout('shared-key'), b.auth);
      expect(fromA.errors).toBeUndefined();
      expect(fromB.errors).toBeUndefined();
      expect(fromA.data?.placeOrder.id).not.toBe(fromB.data?.placeOrder.id);
    });

    it('makes one order and one OrderPlaced of 20 concurrent checkouts with the same key', async () => {
      const c = await customer();
      await fill(c.auth, [
        [LAMP, 2],
        [BULB, 3],
      ]);
      const results = await Promise.all(Array.from({ length: 20 }, () => server.query(PLACE, checkout('double-click'), c.auth)));
      expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
      const ids = new Set(results.map((r) => r.data?.placeOrder.id));
      expect(ids.size).toBe(1);
      const [id] = [...ids];
      expect(await store.recentOrdersOfCustomers([c.id], 100)).toHaveLength(1);
      const placed = (await outboxEvents(store, undefined, 'OrderPlaced')).filter(
        (e) => (e.payload as { customerId: string }).customerId === c.id,
      );
      expect(placed.map((e) => e.aggregateId)).toEqual([id]);
      expect(results.every((r) => r.data?.placeOrder.total.amount === 2 * 1999 + 3 * 350)).toBe(true);
    });

    it('returns the order to a retry that read the cart before the first checkout emptied it', async () => {
      const c = await customer();
      await fill(c.auth, [[LAMP, 1]]);
      const before = await store.cartLinesOf([c.id]);
      const first = await server.query(PLACE, checkout('late-retry'), c.auth);
      let stale = true;
      const racing: OrderStore = {
        ...store,
        cartLinesOf: async (customerIds) => {
          if (stale) {
            stale = false;
            return before;
          }
          return store.cartLinesOf(customerIds);
        },
      };
      const retrying = new OrderService(racing, {
        prices: httpProductPrices({ url: () => deps.peers.url('product-search'), logger: deps.logger }),
        currency: 'USD',
      });
      const viewer = { kind: 'customer', customerId: c.id, scopes: ['customer'] } as const;
      const order = await retrying.placeOrder({ viewer, loaders: retrying.loaders() }, checkout('late-retry').input);
      expect(stale).toBe(false);
      expect(order.id).toBe(first.data?.placeOrder.id);
      expect(await store.recentOrdersOfCustomers([c.id], 10)).toHaveLength(1);
      expect(await outboxEvents(store, order.id, 'OrderPlaced')).toHaveLength(1);
    });

    it('returns the order to a retry whose cart now holds a product no longer sold', async () => {
      const c = await customer();
      await fill(c.auth, [[LAMP, 1]]);
      const first = await server.query(PLACE, checkout('archived-since'), c.auth);
      await fill(c.auth, [[RUG, 1]]);
      // The catalog no longer knows any product in the cart.
      const retrying = new OrderService(store, { prices: { pricesOf: async () => new Map() }, currency: 'USD' });
      const viewer = { kind: 'customer', customerId: c.id, scopes: ['customer'] } as const;
      const order = await retrying.placeOrder({ viewer, loaders: retrying.loaders() }, checkout('archived-since').input);
      expect(order.id).toBe(first.data?.placeOrder.id);
    });

    it('refuses with CONFLICT, placing nothing, when the cart changes between pricing and placing', async () => {
      const c = await customer();
      await fill(c.auth, [[LAMP, 1]]);
      const changing: OrderStore = {
        ...store,
        placeOrder: async (placement) => {
          await store.addToCart(c.id, BULB, 1, { maxQuantity: 99, maxLines: 100 });
          return store.placeOrder(placement);
        },
      };
      const racing = new OrderService(changing, {
        prices: httpProductPrices({ url: () => deps.peers.url('product-search'), logger: deps.logger }),
        currency: 'USD',
      });
      const viewer = { kind: 'customer', customerId: c.id, scopes: ['customer'] } as const;
      await expect(racing.placeOrder({ viewer, loaders: racing.loaders() }, checkout('moving-cart').input)).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      expect(await store.recentOrdersOfCustomers([c.id], 10)).toEqual([]);
      expect(await store.idempotencyRecord(c.id, 'moving-cart')).toBeNull();
      expect((await store.cartLinesOf([c.id])).map((l) => l.productId)).toEqual([LAMP, BULB]);
    });

    it('refuses an empty cart with BAD_USER_INPUT', async () => {
      const c = await customer();
      const res = await server.query(PLACE, checkout('empty'), c.auth);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(await store.idempotencyRecord(c.id, 'empty')).toBeNull();
    });

    it.each([
      ['an empty key', { idempotencyKey: '' }, 'input.idempotencyKey'],
      ['a key of 201 characters', { idempotencyKey: 'k'.repeat(201) }, 'input.idempotencyKey'],
      ['an address without street', { shippingAddress: { ...address, line1: ' ' } }, 'input.shippingAddress.line1'],
      ['a country that is no code', { shippingAddress: { ...address, country: 'Netherlands' } }, 'input.shippingAddress.country'],
      ['an empty payment token', { paymentToken: '' }, 'input.paymentToken'],
    ])('refuses %s with BAD_USER_INPUT and places nothing', async (_what, overrides, field) => {
      const c = await customer();
      await fill(c.auth, [[LAMP, 1]]);
      const res = await server.query(PLACE, checkout('bad-input', overrides), c.auth);
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors?.[0]?.extensions?.field).toBe(field);
      expect(await store.recentOrdersOfCustomers([c.id], 10)).toEqual([]);
      expect(await store.cartLinesOf([c.id])).toHaveLength(1);
    });

    it('accepts a key of 200 characters', async () => {
      const c = await customer();
      await fill(c.auth, [[LAMP, 1]]);
      expect((await server.query(PLACE, checkout('k'.repeat(200)), c.auth)).errors).toBeUndefined();
    });
  });

  describe('saga events', () => {
    const eventFor = {
      StockReservationFailed: (orderId: string) =>
        domainEvent('StockReservationFailed', orderId, {
          orderId,
          reason: 'OUT_OF_STOCK',
          unavailable: [{ productId: LAMP, requested: 2, available: 1 }],
        }),
      PaymentAuthorized: (orderId: string) =>
        domainEvent('PaymentAuthorized', orderId, { orderId, paymentId: 'pay-1', amount: { amount: 3998, currency: 'USD' } }),
      PaymentFailed: (orderId: string) => domainEvent('PaymentFailed', orderId, { orderId, reason: 'PAYMENT_DECLINED', declineCode: 'card_declined' }),
      StockReservationExpired: (orderId: string) => domainEvent('StockReservationExpired', orderId, { orderId }),
    };

    it.each([
      ['StockReservationFailed', 'REJECTED', 'OUT_OF_STOCK', 'OrderRejected', { reason: 'OUT_OF_STOCK' }],
      ['PaymentAuthorized', 'CONFIRMED', null, 'OrderConfirmed', {}],
      ['PaymentFailed', 'PAYMENT_FAILED', 'PAYMENT_DECLINED', 'OrderPaymentFailed', { reason: 'PAYMENT_DECLINED' }],
      ['StockReservationExpired', 'REJECTED', 'RESERVATION_EXPIRED', 'OrderRejected', { reason: 'RESERVATION_EXPIRED' }],
    ] as const)(
      '%s delivered twice moves a PENDING order to %s once and announces it once',
      async (type, status, failureReason, announced, payload) => {
        const { ids: [id] } = await ordersIn('PENDING');
        const event = eventFor[type](id!);
        await service.handleEvent(event);
        const after = await statusOf(id!);
        await service.handleEvent(event);
        expect(await statusOf(id!)).toEqual(after);
        expect(after).toMatchObject({ status, failureReason });
        const events = await outboxEvents(store, id);
        expect(events.map((e) => e.type)).toEqual([announced]);
        expect(events[0]!.payload).toEqual({ orderId: id, ...payload });
      },
    );

    it.each([
      ['PaymentAuthorized', 'CANCELLED'],
      ['PaymentAuthorized', 'REJECTED'],
      ['PaymentFailed', 'CONFIRMED'],
      ['StockReservationExpired', 'SHIPPED'],
      ['StockReservationFailed', 'CANCELLED'],
    ] as const)('%s for a %s order changes nothing and is acknowledged', async (type, status) => {
      const { ids: [id] } = await ordersIn(status);
      const before = await statusOf(id!);
      await expect(service.handleEvent(eventFor[type](id!))).resolves.toBeUndefined();
      expect(await statusOf(id!)).toEqual(before);
      expect(await outboxEvents(store, id)).toEqual([]);
    });

    it('cancels a paid order whose reservation expired before inventory heard of the payment, and asks for a void', async () => {
      const { ids: [id] } = await ordersIn('CONFIRMED');
      const event = eventFor.StockReservationExpired(id!);
      await service.handleEvent(event);
      await service.handleEvent(event);
      expect(await statusOf(id!)).toMatchObject({ status: 'CANCELLED', failureReason: 'RESERVATION_EXPIRED' });
      const events = await outboxEvents(store, id);
      expect(events.map((e) => [e.type, e.payload])).toEqual([['OrderRejected', { orderId: id, reason: 'RESERVATION_EXPIRED' }]]);
    });

    it('acknowledges an event about an unknown order', async () => {
      await expect(service.handleEvent(eventFor.PaymentAuthorized(randomUUID()))).resolves.toBeUndefined();
    });

    it('keeps the first outcome when a late payment follows an expired reservation', async () => {
      const { ids: [id] } = await ordersIn('PENDING');
      await service.handleEvent(eventFor.StockReservationExpired(id!));
      await service.handleEvent(eventFor.PaymentAuthorized(id!));
      expect(await statusOf(id!)).toMatchObject({ status: 'REJECTED', failureReason: 'RESERVATION_EXPIRED' });
      expect((await outboxEvents(store, id)).map((e) => e.type)).toEqual(['OrderRejected']);
    });

    it('consumes events from the bus: a PaymentAuthorized published twice confirms once and OrderConfirmed goes out', async () => {
      const bus = await deps.events();
      const confirmed: EventEnvelope[] = [];
      const observer = bus.subscribe('test-confirmations', ['OrderConfirmed'], async (e) => {
        confirmed.push(e);
      });
      try {
        const { ids: [id] } = await ordersIn('PENDING');
        const event = eventFor.PaymentAuthorized(id!);
        await bus.publish([event, event]);
        await waitFor(async () => confirmed.find((e) => e.aggregateId === id), 'OrderConfirmed on the bus');
        expect((await statusOf(id!))!.status).toBe('CONFIRMED');
        expect(await outboxEvents(store, id, 'OrderConfirmed')).toHaveLength(1);
        const res = await server.query(ORDER, { id }, admin);
        expect(res.data?.order).toEqual({ id, status: 'CONFIRMED', failureReason: null });
      } finally {
        await observer.close();
      }
    });

    it('shows why an order failed', async () => {
      const { ids: [id], customerId } = await ordersIn('PENDING');
      await service.handleEvent(eventFor.PaymentFailed(id!));
      const res = await server.query(ORDER, { id }, await deps.bearer(customerId));
      expect(res.data?.order).toEqual({ id, status: 'PAYMENT_FAILED', failureReason: 'PAYMENT_DECLINED' });
    });
  });

  describe('shop actions', () => {
    it('ships a CONFIRMED order for an admin and announces OrderShipped', async () => {
      const { ids: [id] } = await ordersIn('CONFIRMED');
      const res = await server.query(action('shipOrder'), { id }, admin);
      expect(res.errors).toBeUndefined();
      expect(res.data?.shipOrder).toEqual({ id, status: 'SHIPPED', failureReason: null });
      expect((await outboxEvents(store, id)).map((e) => [e.type, e.payload])).toEqual([['OrderShipped', { orderId: id }]]);
    });

    it.each([
      // Only a CONFIRMED order has its payment authorized: shipping any other is refused.
      ['shipOrder', 'PENDING'],
      ['shipOrder', 'PAYMENT_FAILED'],
      ['shipOrder', 'REJECTED'],
      ['shipOrder', 'CANCELLED'],
      ['shipOrder', 'SHIPPED'],
      ['deliverOrder', 'CONFIRMED'],
      ['refundOrder', 'CONFIRMED'],
      ['refundOrder', 'REFUNDED'],
      ['cancelOrder', 'SHIPPED'],
      ['cancelOrder', 'DELIVERED'],
      ['cancelOrder', 'CANCELLED'],
    ] as const)('refuses %s on a %s order with CONFLICT naming the status, and changes nothing', async (mutation, status) => {
      const { ids: [id] } = await ordersIn(status);
      const res = await server.query(action(mutation), { id }, admin);
      expect(codes(res)).toEqual(['CONFLICT']);
      expect(res.errors?.[0]?.extensions?.status).toBe(status);
      expect((await statusOf(id!))!.status).toBe(status);
      expect(await outboxEvents(store, id)).toEqual([]);
    });

    it.each(['shipOrder', 'deliverOrder', 'cancelOrder', 'refundOrder'])('%s of an unknown order is NOT_FOUND', async (mutation) => {
      expect(codes(await server.query(action(mutation), { id: randomUUID() }, admin))).toEqual(['NOT_FOUND']);
    });

    it.each([
      ['shipOrder', 'CONFIRMED'],
      ['deliverOrder', 'SHIPPED'],
      ['refundOrder', 'DELIVERED'],
    ] as const)('keeps %s to admins: its customer gets FORBIDDEN, anonymous callers UNAUTHENTICATED', async (mutation, status) => {
      const { ids: [id], customerId } = await ordersIn(status);
      expect(codes(await server.query(action(mutation), { id }, await deps.bearer(customerId)))).toEqual(['FORBIDDEN']);
      expect(codes(await server.query(action(mutation), { id }))).toEqual(['UNAUTHENTICATED']);
      expect((await statusOf(id!))!.status).toBe(status);
    });

    it('delivers a shipped order without announcing anything', async () => {
      const { ids: [id] } = await ordersIn('SHIPPED');
      expect((await server.query(action('deliverOrder'), { id }, admin)).data?.deliverOrder.status).toBe('DELIVERED');
      expect(await outboxEvents(store, id)).toEqual([]);
    });

    it.each(['SHIPPED', 'DELIVERED'] as const)('refunds a %s order and announces OrderRefunded', async (status) => {
      const { ids: [id] } = await ordersIn(status);
      const res = await server.query(action('refundOrder'), { id }, admin);
      expect(res.data?.refundOrder.status).toBe('REFUNDED');
      expect((await outboxEvents(store, id)).map((e) => e.type)).toEqual(['OrderRefunded']);
    });

    it.each(['PENDING', 'CONFIRMED'] as const)('lets the owner cancel a %s order and announces OrderCancelled', async (status) => {
      const { ids: [id], customerId } = await ordersIn(status);
      const res = await server.query(action('cancelOrder'), { id }, await deps.bearer(customerId));
      expect(res.errors).toBeUndefined();
      expect(res.data?.cancelOrder.status).toBe('CANCELLED');
      expect((await outboxEvents(store, id)).map((e) => [e.type, e.payload])).toEqual([['OrderCancelled', { orderId: id }]]);
    });

    it("refuses another customer's cancellation with FORBIDDEN and lets an admin cancel", async () => {
      const { ids: [id] } = await ordersIn('PENDING');
      const stranger = await customer();
      expect(codes(await server.query(action('cancelOrder'), { id }, stranger.auth))).toEqual(['FORBIDDEN']);
      expect(codes(await server.query(action('cancelOrder'), { id }))).toEqual(['UNAUTHENTICATED']);
      expect((await statusOf(id!))!.status).toBe('PENDING');
      expect((await server.query(action('cancelOrder'), { id }, admin)).data?.cancelOrder.status).toBe('CANCELLED');
    });

    it('lets the owner cancel an order placed through checkout', async () => {
      const c = await customer();
      await fill(c.auth, [[LAMP, 1]]);
      const placed = await server.query(PLACE, checkout('to-cancel'), c.auth);
      const id = placed.data?.placeOrder.id;
      expect((await server.query(action('cancelOrder'), { id }, c.auth)).data?.cancelOrder.status).toBe('CANCELLED');
      expect((await outboxEvents(store, id)).map((e) => e.type)).toEqual(['OrderPlaced', 'OrderCancelled']);
    });

    it('of a concurrent ship and cancel of a confirmed order, the one that goes second sees the first', async () => {
      const { ids: [id] } = await ordersIn('CONFIRMED');
      const [ship, cancel] = await Promise.all([
        server.query(action('shipOrder'), { id }, admin),
        server.query(action('cancelOrder'), { id }, admin),
      ]);
      const final = (await statusOf(id!))!.status;
      if (final === 'SHIPPED') {
        expect(ship.errors).toBeUndefined();
        expect(codes(cancel)).toEqual(['CONFLICT']);
        expect(cancel.errors?.[0]?.extensions?.status).toBe('SHIPPED');
      } else {
        expect(final).toBe('CANCELLED');
        expect(cancel.errors).toBeUndefined();
        expect(codes(ship)).toEqual(['CONFLICT']);
        expect(ship.errors?.[0]?.extensions?.status).toBe('CANCELLED');
      }
      expect(await outboxEvents(store, id)).toHaveLength(1);
    });
  });

  describe('round trips to the order database', () => {
    /** Statements the order store sends, and transactions it opens, while `work` runs. */
    async function roundTrips(work: () => Promise<unknown>): Promise<{ statements: number; transactions: number }> {
      const transactions = jest.spyOn(store.outbox.database.db, 'transaction');
      const before = store.statementCount();
      try {
        await work();
        return { statements: store.statementCount() - before, transactions: transactions.mock.calls.length };
      } finally {
        transactions.mockRestore();
      }
    }

    // A service without the relay's notify, so only the operation's own statements are counted.
    function quietService() {
      return new OrderService(store, {
        prices: httpProductPrices({ url: () => deps.peers.url('product-search'), logger: deps.logger }),
        currency: 'USD',
      });
    }

    function request(s: OrderService, customerId: string) {
      return { viewer: { kind: 'customer', customerId, scopes: ['customer'] } as const, loaders: s.loaders() };
    }

    it('adds to a cart with one read to price it and one statement to change it, outside a transaction', async () => {
      const s = quietService();
      const c = await customer();
      let cart: Awaited<ReturnType<OrderService['addToCart']>> | undefined;
      expect(await roundTrips(async () => (cart = await s.addToCart(request(s, c.id), { productId: LAMP, quantity: 2 })))).toEqual({
        statements: 2,
        transactions: 0,
      });
      expect(await roundTrips(async () => (cart = await s.addToCart(request(s, c.id), { productId: RUG, quantity: 1 })))).toEqual({
        statements: 2,
        transactions: 0,
      });
      expect(await roundTrips(async () => (cart = await s.addToCart(request(s, c.id), { productId: LAMP, quantity: 1 })))).toEqual({
        statements: 2,
        transactions: 0,
      });
      expect(cart!.lines.map((l) => [l.productId, l.quantity])).toEqual([
        [LAMP, 3],
        [RUG, 1],
      ]);
      expect(cart!.subtotal.amount).toBe(3 * 1999 + 12500);
      // A refused change costs the same and says which limit refused it.
      expect(await roundTrips(() => s.addToCart(request(s, c.id), { productId: LAMP, quantity: 97 }).catch((e) => e.code))).toEqual({
        statements: 2,
        transactions: 0,
      });
    });

    it('places an order with a cart read and one statement that writes it all, outside a transaction', async () => {
      const s = quietService();
      const c = await customer();
      await s.addToCart(request(s, c.id), { productId: LAMP, quantity: 2 });
      await s.addToCart(request(s, c.id), { productId: BULB, quantity: 1 });
      let order: OrderRecord | undefined;
      const input = checkout('counted').input;
      expect(await roundTrips(async () => (order = await s.placeOrder(request(s, c.id), input)))).toEqual({
        statements: 2,
        transactions: 0,
      });
      expect(order).toEqual((await store.ordersByIds([order!.id]))[0]);
      expect(order).toMatchObject({ status: 'PENDING', customerId: c.id, totalAmount: 2 * 1999 + 350, shippingAddress: address });
      expect((await store.linesOfOrders([order!.id])).map((l) => [l.lineNo, l.productId, l.quantity])).toEqual([
        [1, LAMP, 2],
        [2, BULB, 1],
      ]);
      expect(await store.cartLinesOf([c.id])).toEqual([]);
      expect((await outboxEvents(store, order!.id)).map((e) => e.type)).toEqual(['OrderPlaced']);
    });

    it('applies a saga event in one statement outside a transaction, and acknowledges its redelivery with one', async () => {
      const s = quietService();
      const { ids: [id] } = await ordersIn('PENDING');
      const event = domainEvent('PaymentAuthorized', id!, { orderId: id!, paymentId: 'pay-1', amount: { amount: 3998, currency: 'USD' } });
      expect(await roundTrips(() => s.handleEvent(event))).toEqual({ statements: 1, transactions: 0 });
      expect((await statusOf(id!))!.status).toBe('CONFIRMED');
      expect(await roundTrips(() => s.handleEvent(event))).toEqual({ statements: 1, transactions: 0 });
      expect(await outboxEvents(store, id, 'OrderConfirmed')).toHaveLength(1);
    });
  });
});
