/**
 * The shop through the router, as a client sees it: all six subgraphs on one
 * embedded store, seeded with a small demo shop, queried with plain fetch.
 */
import { startTestShop, type TestShop } from '../testing';

let shop: TestShop;
let customerToken: string;
let adminToken: string;

beforeAll(async () => {
  shop = await startTestShop();
  customerToken = await shop.login('customer1@demo.shop');
  adminToken = await shop.login('admin@demo.shop');
}, 120_000);

afterAll(() => shop?.close());

const customer = (n: number) => shop.data.customers.find((c) => c.email === `customer${n}@demo.shop`)!;
const ordersOf = (customerId: string) => shop.data.orders.filter((o) => o.customerId === customerId);

/**
 * A customer's replayed orders as the shop lists them (newest first), each with the demo
 * order it replays: past orders keep their time, which is how they are told apart.
 */
async function placedOrders(token: string, customerId: string) {
  const res = await shop.query<{ me: { orders: { id: string; placedAt: string }[] } }>(
    `{ me { orders(first: 100) { id placedAt } } }`,
    undefined,
    token,
  );
  expect(res.errors).toBeUndefined();
  const past = ordersOf(customerId);
  return res.data!.me.orders.map((o) => ({ ...o, past: past.find((p) => p.placedAt.getTime() === Date.parse(o.placedAt))! }));
}

/** The card the simulated processor reports for the token the replay paid a demo order with. */
const cardOfReplay = (brand: string) =>
  brand === 'mastercard' ? { brand: 'Mastercard', last4: '4444' } : { brand: 'Visa', last4: '4242' };

describe('accounts', () => {
  it('logs a demo customer in and answers me', async () => {
    const res = await shop.query(`{ me { id email name addresses { city country } } }`, undefined, customerToken);
    expect(res.errors).toBeUndefined();
    expect(res.data!.me).toMatchObject({ id: customer(1).id, email: 'customer1@demo.shop', name: customer(1).name });
    expect(res.data!.me.addresses).toEqual(customer(1).addresses.map((a) => ({ city: a.city, country: a.country })));
  });

  it('registers a customer whose token works at once, and refuses the same email twice', async () => {
    const register = `mutation ($input: RegisterInput!) { register(input: $input) { accessToken customer { id name } } }`;
    const input = { email: 'New.Person@Example.com', password: 'a-long-password', name: 'New Person' };
    const res = await shop.query(register, { input });
    expect(res.errors).toBeUndefined();
    expect(res.data!.register.customer).toMatchObject({ name: 'New Person' });
    const me = await shop.query(`{ me { email } }`, undefined, res.data!.register.accessToken);
    expect(me.data).toEqual({ me: { email: 'new.person@example.com' } });

    // The signing-up request carries no token: fields that need one come back null, the tokens do not.
    const withEmail = await shop.query(`mutation ($input: RegisterInput!) { register(input: $input) { accessToken customer { email } } }`, {
      input: { ...input, email: 'another.person@example.com' },
    });
    expect(withEmail.data!.register).toEqual({ accessToken: expect.any(String), customer: null });
    expect(withEmail.errors).toEqual([expect.objectContaining({ path: ['register', 'customer', 'email'], extensions: { code: 'UNAUTHENTICATED' } })]);

    const again = await shop.query(register, { input });
    expect(again.errors?.[0]?.extensions?.code).toBe('EMAIL_ALREADY_REGISTERED');
  });

  it('refuses a wrong password, a missing token and a forged token with UNAUTHENTICATED', async () => {
    const wrong = await shop.query(`mutation { login(input: { email: "customer1@demo.shop", password: "not-the-password" }) { accessToken } }`);
    expect(wrong.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const anonymous = await shop.query(`{ me { id } }`);
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const forged = await shop.query(`{ me { id } }`, undefined, `${customerToken.slice(0, -4)}AAAA`);
    expect(forged.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('adds an address and refuses a country that is not ISO 3166-1 alpha-2', async () => {
    const add = `mutation ($input: AddressInput!) { addAddress(input: $input) { id line1 city country } }`;
    const address = { line1: '1 Test Street', city: 'Utrecht', postalCode: '3511 AA', country: 'NL' };
    const ok = await shop.query(add, { input: address }, customerToken);
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.addAddress).toMatchObject({ line1: '1 Test Street', country: 'NL' });
    const bad = await shop.query(add, { input: { ...address, country: 'XX' } }, customerToken);
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('catalog and search', () => {
  it('finds products despite a typo, with facets over the whole result', async () => {
    const res = await shop.query(`{
      searchProducts(query: "tabel", first: 5) {
        totalCount
        edges { cursor node { name price { amount currency formatted } } }
        pageInfo { hasNextPage endCursor }
        facets { categories { value { name } count } brands { count } priceBands { min { amount } max { amount } count } }
      }
    }`);
    expect(res.errors).toBeUndefined();
    const result = res.data!.searchProducts;
    expect(result.totalCount).toBeGreaterThan(0);
    expect(result.edges[0].node.name).toMatch(/Table/);
    const sum = (list: { count: number }[]) => list.reduce((n, f) => n + f.count, 0);
    expect(sum(result.facets.categories)).toBe(result.totalCount);
    expect(sum(result.facets.brands)).toBe(result.totalCount);
    expect(sum(result.facets.priceBands)).toBe(result.totalCount);
    const price = result.edges[0].node.price;
    expect(Number.isInteger(price.amount)).toBe(true);
    expect(price.formatted).toMatch(/^\$[\d,]+\.\d{2}$/);
  });

  it('pages through results without repeats', async () => {
    const page = `query ($after: String) { searchProducts(first: 40, after: $after, sort: NAME_ASC) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    let total = 0;
    for (let i = 0; i < 10; i++) {
      const res: any = await shop.query(page, { after });
      total = res.data.searchProducts.totalCount;
      seen.push(...res.data.searchProducts.edges.map((e: any) => e.node.id));
      if (!res.data.searchProducts.pageInfo.hasNextPage) break;
      after = res.data.searchProducts.pageInfo.endCursor;
    }
    expect(total).toBe(shop.data.products.length);
    expect(new Set(seen).size).toBe(shop.data.products.length);
  });

  it('returns null for an unknown product id, without an error', async () => {
    const res = await shop.query(`{ product(id: "no-such-product") { id name } }`);
    // Nothing was returned, so nothing was spent beyond the estimate's promise.
    expect(res).toEqual({ data: { product: null }, extensions: { cost: { requestedQueryCost: expect.any(Number), actualQueryCost: 0 } } });
  });

  it('rejects first above 100 with BAD_USER_INPUT', async () => {
    const res = await shop.query(`{ searchProducts(first: 101) { totalCount } }`);
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(res)).not.toMatch(/stacktrace/);
  });
});

describe('one graph over six subgraphs', () => {
  it('answers a query that touches every subgraph', async () => {
    const placed = (await placedOrders(customerToken, customer(1).id)).at(-1)!;
    const orderId = placed.id;
    const ask = () => shop.query(
      `query ($id: ID!) {
        order(id: $id) {
          id status placedAt
          total { amount currency formatted }
          customer { name recommendations(first: 3) { id name } }
          lines {
            quantity unitPrice { amount } lineTotal { amount }
            product { name price { amount } brand { name } category { name } availableQuantity inStock recommendations(first: 2) { name } }
          }
          payment { status amount { amount } method { brand last4 } }
        }
      }`,
      { id: orderId },
      customerToken,
    );
    // Capture follows shipment through the bus; the replayed order's payment may take a moment.
    let res = await ask();
    for (let tries = 0; res.data?.order?.payment?.status !== 'CAPTURED' && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      res = await ask();
    }
    expect(res.errors).toBeUndefined();
    const order = res.data!.order;
    const seeded = placed.past;
    expect(seeded).toBeDefined();
    expect(order.status).toBe('DELIVERED');
    expect(order.customer.name).toBe(customer(1).name);
    expect(order.customer.recommendations.length).toBeGreaterThan(0);
    expect(order.lines).toHaveLength(seeded.lines.length);
    const expectedTotal = seeded.lines.reduce((n, l) => n + l.unitPriceAmount * l.quantity, 0);
    expect(order.total.amount).toBe(expectedTotal);
    expect(order.payment).toEqual({ status: 'CAPTURED', amount: { amount: expectedTotal }, method: cardOfReplay(seeded.card.brand) });
    for (const line of order.lines) {
      expect(line.lineTotal.amount).toBe(line.unitPrice.amount * line.quantity);
      expect(typeof line.product.name).toBe('string');
      expect(typeof line.product.brand.name).toBe('string');
      expect(line.product.inStock).toBe(line.product.availableQuantity > 0);
      expect(Array.isArray(line.product.recommendations)).toBe(true);
    }
  });

  it('lists a customer’s orders, newest first', async () => {
    const listed = await placedOrders(customerToken, customer(1).id);
    const expected = ordersOf(customer(1).id).sort((a, b) => b.placedAt.getTime() - a.placedAt.getTime());
    expect(listed.map((o) => o.past)).toEqual(expected);
    expect(new Set(listed.map((o) => o.id)).size).toBe(expected.length);
  });

  it('never shows another customer’s order: FORBIDDEN and no data', async () => {
    const owner = shop.data.customers.find((c) => c.id === shop.data.orders.find((o) => o.customerId !== customer(1).id)!.customerId)!;
    const { id: otherId, past: other } = (await placedOrders(await shop.login(owner.email), owner.id))[0]!;
    const res = await shop.query(`query ($id: ID!) { order(id: $id) { id total { amount } lines { quantity } } }`, { id: otherId }, customerToken);
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(res.data?.order ?? null).toBeNull();
    expect(JSON.stringify(res)).not.toContain(other.lines[0]!.productId);

    const asAdmin = await shop.query(`query ($id: ID!) { order(id: $id) { id } }`, { id: otherId }, adminToken);
    expect(asAdmin.data).toEqual({ order: { id: otherId } });
  });

  it('returns null for an unknown order id', async () => {
    const res = await shop.query(`{ order(id: "no-such-order") { id } }`, undefined, customerToken);
    expect(res).toEqual({ data: { order: null }, extensions: { cost: { requestedQueryCost: expect.any(Number), actualQueryCost: 0 } } });
  });
});

describe('inventory through the router', () => {
  it('lets an admin set stock and everyone see the new availability; refuses negative counts', async () => {
    const product = shop.data.products[0]!;
    const warehouse = shop.data.warehouses[0]!;
    const set = `mutation ($input: SetStockInput!) { setStock(input: $input) { onHand available warehouse { code } } }`;
    const res = await shop.query(set, { input: { productId: product.id, warehouseId: warehouse.id, onHand: 500 } }, adminToken);
    expect(res.errors).toBeUndefined();
    expect(res.data!.setStock).toEqual({ onHand: 500, available: 500, warehouse: { code: warehouse.code } });
    const others = shop.data.stock.filter((s) => s.productId === product.id && s.warehouseId !== warehouse.id);
    const expected = 500 + others.reduce((n, s) => n + s.onHand, 0);
    const read = await shop.query(`query ($id: ID!) { product(id: $id) { availableQuantity inStock } }`, { id: product.id });
    expect(read.data).toEqual({ product: { availableQuantity: expected, inStock: true } });

    const negative = await shop.query(set, { input: { productId: product.id, warehouseId: warehouse.id, onHand: -5 } }, adminToken);
    expect(negative.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const asCustomer = await shop.query(set, { input: { productId: product.id, warehouseId: warehouse.id, onHand: 1 } }, customerToken);
    expect(asCustomer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('batching', () => {
  const listQuery = `query ($first: Int!) {
    searchProducts(first: $first, sort: NAME_ASC) {
      edges { node { id name brand { name } availableQuantity inStock recommendations(first: 3) { id name } } }
    }
  }`;

  async function cost(first: number) {
    const fetchesBefore = new Map(shop.router.subgraphFetches);
    const statementsBefore = shop.statements();
    const res = await shop.query(listQuery, { first });
    expect(res.errors).toBeUndefined();
    expect(res.data!.searchProducts.edges).toHaveLength(first);
    const statementsAfter = shop.statements();
    const fetches: Record<string, number> = {};
    for (const [name, count] of shop.router.subgraphFetches) {
      if (count > (fetchesBefore.get(name) ?? 0)) fetches[name] = count - (fetchesBefore.get(name) ?? 0);
    }
    const statements: Record<string, number> = {};
    for (const name of Object.keys(statementsAfter) as (keyof typeof statementsAfter)[]) {
      statements[name] = statementsAfter[name] - statementsBefore[name];
    }
    return { fetches, statements };
  }

  it('costs the same subgraph fetches and store statements for 50 products as for 5', async () => {
    // Products once read come from the product cache; read them all first, so both counts see it warm.
    await cost(50);
    const few = await cost(5);
    const many = await cost(50);
    expect(many).toEqual(few);
    // One fetch per subgraph hop, and one batched statement per entity type per subgraph.
    expect(many.fetches).toEqual({ 'product-search': 2, inventory: 1, recommendation: 1 });
    expect(many.statements.inventory).toBe(1);
    expect(many.statements.recommendation).toBe(1);
    // The search (page, total and facets in one statement) and the brands; the products and the
    // recommended products come from the product cache.
    expect(many.statements['product-search']).toBe(2);
    expect(many.statements).toMatchObject({ customer: 0, order: 0, payment: 0 });
  });
});

describe('a subgraph that is down', () => {
  it('degrades the fields it owns, not the response', async () => {
    const orderId = (await placedOrders(customerToken, customer(1).id))[0]!.id;
    await shop.subgraphs.get('payment')!.service.stop();
    const res = await shop.query(
      `query ($id: ID!) { order(id: $id) { id status total { amount } payment { status } } }`,
      { id: orderId },
      customerToken,
    );
    expect(res.data!.order).toMatchObject({ id: orderId, status: 'DELIVERED', payment: null });
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['SUBGRAPH_UNAVAILABLE']);
    expect(JSON.stringify(res.errors)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stacktrace/);
  });
});
