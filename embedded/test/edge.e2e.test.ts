/**
 * Hostile input through the router: every limit just under and just over, fragment
 * tricks, cost bombs, forged and stolen tokens, ended sessions, throttled sign-ins, and
 * customers reaching for admin fields. Each refusal carries its code, and the router's
 * subgraph request counter shows that nothing refused reached a subgraph.
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, importPKCS8 } from 'jose';
import { AccessTokens, loadTokenKeys } from '../../platform/auth';
import { composeSupergraph } from '../../schema/compose';
import { liveClient, metricSample, postGraphQL, waitFor, type GraphQLResponse } from '../../platform/testing';
import { startRouter, type RunningRouter } from '../../router/router';
import { startTestShop, TEST_PASSWORD, type TestShop } from '../testing';

jest.setTimeout(120_000);

let shop: TestShop;
let customerToken: string;
let adminToken: string;
let productId: string;

beforeAll(async () => {
  shop = await startTestShop();
  const customer = shop.data.customers.find((c) => !c.admin)!;
  customerToken = await shop.login(customer.email);
  adminToken = await shop.login(shop.data.customers.find((c) => c.admin)!.email);
  productId = shop.data.products[0]!.id;
});
afterAll(() => shop?.close());

/** Subgraph requests the router has sent so far, all subgraphs together. */
const fetches = () => [...shop.router.subgraphFetches.values()].reduce((a, b) => a + b, 0);

/** Runs `request` and says how many subgraph requests it caused. */
async function counted<T>(request: () => Promise<T>): Promise<{ result: T; fetched: number }> {
  const before = fetches();
  const result = await request();
  return { result, fetched: fetches() - before };
}

const raw = (token: string) => ({ authorization: `Bearer ${token}` });
const codes = (res: GraphQLResponse) => (res.errors ?? []).map((e) => e.extensions?.code);

/** Sends `query` and expects it refused with `code` before any subgraph is asked: no data, or only nulls. */
async function refused(query: string, code: string, variables?: Record<string, unknown>, token?: string) {
  const { result, fetched } = await counted(() => shop.query(query, variables, token));
  expect(codes(result)).toEqual([code]);
  expect(Object.values(result.data ?? {}).filter((value) => value !== null)).toEqual([]);
  expect(fetched).toBe(0);
  return result.errors![0]!;
}

/** Sends `query` and expects no refusal by the edge (what the subgraphs answer is theirs). */
async function admitted(query: string, variables?: Record<string, unknown>, token?: string) {
  const { result, fetched } = await counted(() => shop.query(query, variables, token));
  const edgeCodes = ['MAX_DEPTH_LIMIT', 'MAX_ALIASES_LIMIT', 'MAX_ROOT_FIELDS_LIMIT', 'MAX_DIRECTIVES_LIMIT', 'MAX_TOKENS_LIMIT', 'COST_ESTIMATED_TOO_EXPENSIVE'];
  expect(codes(result).filter((c) => edgeCodes.includes(c as string))).toEqual([]);
  expect(fetched).toBeGreaterThan(0);
  return result;
}

/** `product { recommendations(first: 1) { … } }` so that the whole operation is `depth` levels deep. */
function deepQuery(depth: number): string {
  let inner = 'id';
  for (let level = 0; level < depth - 2; level++) inner = `recommendations(first: 1) { ${inner} }`;
  return `query ($id: ID!) { product(id: $id) { ${inner} } }`;
}

describe('operation limits', () => {
  it('admits an operation 15 levels deep and refuses one 16 deep, naming both numbers', async () => {
    await admitted(deepQuery(15), { id: productId });
    const error = await refused(deepQuery(16), 'MAX_DEPTH_LIMIT', { id: productId });
    expect(error.extensions).toMatchObject({ limit: 15, measured: 16 });
  });

  it('does not count introspection towards depth', async () => {
    const res = await shop.query('{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }');
    expect(res.errors).toBeUndefined();
  });

  const aliased = (n: number) => `query ($id: ID!) { product(id: $id) { ${Array.from({ length: n }, (_, i) => `a${i}: name`).join(' ')} } }`;
  it('admits 30 aliases and refuses 31', async () => {
    await admitted(aliased(30), { id: productId });
    const error = await refused(aliased(31), 'MAX_ALIASES_LIMIT', { id: productId });
    expect(error.extensions).toMatchObject({ limit: 30, measured: 31 });
  });

  const roots = (n: number) => `query ($id: ID!) { ${Array.from({ length: n }, (_, i) => `r${i}: product(id: $id) { id }`).join(' ')} }`;
  it('admits 20 root fields and refuses 21', async () => {
    await admitted(roots(20), { id: productId });
    const error = await refused(roots(21), 'MAX_ROOT_FIELDS_LIMIT', { id: productId });
    expect(error.extensions).toMatchObject({ limit: 20, measured: 21 });
  });

  const directives = (n: number) =>
    `query ($id: ID!) { product(id: $id) { id ${Array.from({ length: n }, () => 'name @include(if: true)').join(' ')} } }`;
  it('admits 50 directives and refuses 51', async () => {
    await admitted(directives(50), { id: productId });
    const error = await refused(directives(51), 'MAX_DIRECTIVES_LIMIT', { id: productId });
    expect(error.extensions).toMatchObject({ limit: 50, measured: 51 });
  });

  // `{ products ( ids : [ … ] ) { id } }` is 12 tokens plus one per id.
  const tokens = (n: number) => `{ products(ids: [${Array.from({ length: n - 12 }, () => '"p"').join(' ')}]) { id } }`;
  it('admits a document of 5,000 tokens and refuses one of 5,001', async () => {
    await admitted(tokens(5000));
    const error = await refused(tokens(5001), 'MAX_TOKENS_LIMIT');
    expect(error.extensions).toMatchObject({ limit: 5000, measured: 5001 });
  });

  it('refuses a 100,000-token document, saying how many tokens it counted', async () => {
    // That the parser stops at the limit is shown in router/test/operation-limits.test.ts.
    const error = await refused(tokens(100_000), 'MAX_TOKENS_LIMIT');
    expect(error.extensions).toMatchObject({ limit: 5000, measured: 100_000 });
  });
});

describe('fragment tricks', () => {
  it('counts an aliased fragment spread a thousand times a thousand times', async () => {
    const spreads = Array.from({ length: 1000 }, () => '...F').join(' ');
    const error = await refused(`query ($id: ID!) { product(id: $id) { ${spreads} } } fragment F on Product { n: name }`, 'MAX_ALIASES_LIMIT', {
      id: productId,
    });
    expect(error.extensions).toMatchObject({ measured: 1000 });
  });

  it('sees the depth a chain of fragments hides', async () => {
    const chain = Array.from({ length: 16 }, (_, i) => `fragment F${i} on Product { recommendations(first: 1) { ...F${i + 1} } }`).join('\n');
    await refused(`query ($id: ID!) { product(id: $id) { ...F0 } } ${chain} fragment F16 on Product { id }`, 'MAX_DEPTH_LIMIT', { id: productId });
  });

  it('refuses a fragment cycle at validation, before anything else', async () => {
    await refused(
      `query ($id: ID!) { product(id: $id) { ...A } } fragment A on Product { recommendations(first: 1) { ...B } } fragment B on Product { recommendations(first: 1) { ...A } }`,
      'GRAPHQL_VALIDATION_FAILED',
      { id: productId },
    );
  });
});

describe('demand control', () => {
  const FAN_OUT = `{ searchProducts(query: "chair", first: 100) { edges { node { name recommendations(first: 20) { name recommendations(first: 20) { name } } } } } }`;

  it('refuses the three-level recommendations fan-out, giving its cost and the maximum', async () => {
    const error = await refused(FAN_OUT, 'COST_ESTIMATED_TOO_EXPENSIVE');
    expect(error.extensions).toMatchObject({ maxCost: 5000, requestedQueryCost: expect.any(Number) });
    expect(error.extensions!.requestedQueryCost as number).toBeGreaterThan(5000);
  });

  it('prices sizes sent as variables and hidden in fragments the same way', async () => {
    const viaVariables = `query ($n: Int!) { searchProducts(query: "chair", first: $n) { edges { node { ...R } } } } fragment R on Product { recommendations(first: $n) { recommendations(first: $n) { name } } }`;
    await refused(viaVariables, 'COST_ESTIMATED_TOO_EXPENSIVE', { n: 40 });
    await admitted(viaVariables, { n: 2 });
  });

  it('reports the estimated and the actual cost on every executed response', async () => {
    const res = await shop.query(`{ searchProducts(query: "chair", first: 20) { edges { node { name } } } }`);
    expect(res.errors).toBeUndefined();
    const cost = (res as { extensions?: { cost?: { requestedQueryCost: number; actualQueryCost: number } } }).extensions?.cost;
    expect(cost?.requestedQueryCost).toBeGreaterThan(0);
    // Fewer results than asked for cost less than the estimate.
    expect(cost!.actualQueryCost).toBeLessThanOrEqual(cost!.requestedQueryCost);
  });
});

describe('tokens the router refuses', () => {
  const ME = '{ me { id email } }';

  it('refuses a missing token for me, without asking the customer subgraph', async () => {
    const error = await refused(ME, 'UNAUTHENTICATED');
    expect(error.path).toEqual(['me']);
  });

  it('refuses a token whose signature was tampered with', async () => {
    const [header, payload] = customerToken.split('.');
    const tampered = `${header}.${payload}.${Buffer.from('not the signature').toString('base64url')}`;
    await refused(ME, 'UNAUTHENTICATED', undefined, tampered);
  });

  it('refuses a token whose claims were changed after signing (a customer making itself admin)', async () => {
    const [header, payload, signature] = customerToken.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const escalated = Buffer.from(JSON.stringify({ ...claims, scope: 'customer admin' })).toString('base64url');
    await refused('{ warehouses { id } }', 'UNAUTHENTICATED', undefined, `${header}.${escalated}.${signature}`);
  });

  it('refuses a token signed with another key', async () => {
    const foreign = generateKeyPairSync('ed25519');
    const key = await importPKCS8(foreign.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'EdDSA');
    const claims = JSON.parse(Buffer.from(customerToken.split('.')[1]!, 'base64url').toString());
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' }).sign(key);
    await refused(ME, 'UNAUTHENTICATED', undefined, token);
  });

  it('refuses an unsigned token (alg: none)', async () => {
    const claims = Buffer.from(customerToken.split('.')[1]!, 'base64url').toString();
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(claims).toString('base64url')}.`;
    await refused(ME, 'UNAUTHENTICATED', undefined, unsigned);
  });

  it('refuses an expired token', async () => {
    const keys = await loadTokenKeys(shop.deps.config);
    const expired = new AccessTokens(keys, { issuer: shop.deps.config.JWT_ISSUER, ttlSeconds: -60 });
    const customer = shop.data.customers.find((c) => !c.admin)!;
    const { token } = await expired.issue(customer.id, ['customer']);
    await refused(ME, 'UNAUTHENTICATED', undefined, token);
  });
});

describe('sessions', () => {
  const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`;
  const REFRESH = `mutation ($token: String!) { refreshSession(refreshToken: $token) { accessToken refreshToken } }`;
  const signIn = async (email: string) => {
    const res = await shop.query<{ login: { accessToken: string; refreshToken: string } }>(LOGIN, { input: { email, password: TEST_PASSWORD } });
    expect(res.errors).toBeUndefined();
    return res.data!.login;
  };
  const customerEmail = () => shop.data.customers.filter((c) => !c.admin)[1]!.email;

  it("refuses a session's access token at the router once the session ended", async () => {
    const { accessToken } = await signIn(customerEmail());
    expect((await shop.query('{ me { id } }', undefined, accessToken)).errors).toBeUndefined();
    expect((await shop.query('mutation { logout }', undefined, accessToken)).data).toEqual({ logout: true });
    await refused('{ me { id } }', 'UNAUTHENTICATED', undefined, accessToken);
  });

  it('ends the whole session when a rotated refresh token is presented again', async () => {
    const first = await signIn(customerEmail());
    const rotated = await shop.query<{ refreshSession: { accessToken: string; refreshToken: string } }>(REFRESH, { token: first.refreshToken });
    expect(rotated.errors).toBeUndefined();
    const reuse = await shop.query(REFRESH, { token: first.refreshToken });
    expect(codes(reuse)).toEqual(['UNAUTHENTICATED']);
    // The thief's reuse ended the session the rightful owner holds too.
    await refused('{ me { id } }', 'UNAUTHENTICATED', undefined, rotated.data!.refreshSession.accessToken);
    expect(codes(await shop.query(REFRESH, { token: rotated.data!.refreshSession.refreshToken }))).toEqual(['UNAUTHENTICATED']);
  });

  it('throttles sign-ins after 10 failures for one email, the same for a known and an unknown address', async () => {
    for (const email of [shop.data.customers.filter((c) => !c.admin)[2]!.email, 'nobody-here@example.com']) {
      for (let attempt = 1; attempt <= 10; attempt++) {
        const res = await shop.query(LOGIN, { input: { email, password: 'wrong-password-x' } });
        expect(codes(res)).toEqual(['UNAUTHENTICATED']);
      }
      const throttled = await shop.query(LOGIN, { input: { email, password: 'wrong-password-x' } });
      expect(codes(throttled)).toEqual(['THROTTLED']);
      expect(throttled.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThan(0);
    }
  });
});

describe('fields the caller may not see', () => {
  it('serves the public fields and nulls the protected one, asking only the subgraphs it needs', async () => {
    const order = shop.data.orders[0]!;
    const orderBefore = shop.router.subgraphFetches.get('order') ?? 0;
    const { result, fetched } = await counted(() =>
      shop.query(`query ($id: ID!, $order: ID!) { product(id: $id) { name } order(id: $order) { id status } }`, { id: productId, order: order.id }),
    );
    expect(result.data).toEqual({ product: { name: expect.any(String) }, order: null });
    expect(result.errors).toEqual([expect.objectContaining({ path: ['order'], extensions: { code: 'UNAUTHENTICATED' } })]);
    expect(fetched).toBe(1);
    expect(shop.router.subgraphFetches.get('order') ?? 0).toBe(orderBefore);
  });

  it('tells a customer reaching for admin fields FORBIDDEN, without asking the subgraph that owns them', async () => {
    const inventoryBefore = shop.router.subgraphFetches.get('inventory') ?? 0;
    const res = await shop.query(`query ($id: ID!) { product(id: $id) { name availableQuantity stockLevels { onHand } } }`, { id: productId }, customerToken);
    expect(res.data).toEqual({ product: null });
    expect(res.errors).toEqual([expect.objectContaining({ path: ['product', 'stockLevels'], extensions: { code: 'FORBIDDEN' } })]);
    // availableQuantity still came from inventory; stockLevels was never asked for.
    expect((shop.router.subgraphFetches.get('inventory') ?? 0) - inventoryBefore).toBe(1);
    const admin = await shop.query(`query ($id: ID!) { product(id: $id) { stockLevels { onHand } } }`, { id: productId }, adminToken);
    expect(admin.errors).toBeUndefined();
    expect(admin.data!.product.stockLevels.length).toBeGreaterThan(0);
  });

  it('refuses an admin mutation to a customer before it runs', async () => {
    const error = await refused(`mutation ($id: ID!) { shipOrder(id: $id) { id } }`, 'FORBIDDEN', { id: shop.data.orders[0]!.id }, customerToken);
    expect(error.path).toEqual(['shipOrder']);
  });

  it('refuses checkout to an anonymous caller before it runs', async () => {
    await refused(`mutation { addToCart(input: { productId: "x", quantity: 1 }) { subtotal { amount } } }`, 'UNAUTHENTICATED');
  });

  it("keeps a subgraph's own ownership check: another customer's order is FORBIDDEN there", async () => {
    // An order of another customer who has some, as that customer sees it.
    let someoneElses: string | undefined;
    for (const other of shop.data.customers.filter((c) => !c.admin).slice(1)) {
      const mine = await shop.query(`{ me { orders(first: 1) { id } } }`, undefined, await shop.login(other.email));
      someoneElses = mine.data?.me.orders[0]?.id;
      if (someoneElses) break;
    }
    expect(someoneElses).toBeDefined();
    const res = await shop.query(`query ($id: ID!) { order(id: $id) { id } }`, { id: someoneElses }, customerToken);
    expect(codes(res)).toEqual(['FORBIDDEN']);
  });
});

describe('metrics per client', () => {
  it('counts operations, errors by code and the cost spent, by the name and version the client gives', async () => {
    const headers = { 'apollographql-client-name': 'storefront-web', 'apollographql-client-version': '4.2.0' };
    const labels = { client_name: 'storefront-web', client_version: '4.2.0' };
    const metrics = async () => (await fetch(shop.url.replace(/\/graphql$/, '/metrics'))).text();
    const before = await metrics();
    const ok = await postGraphQL(shop.url, `{ searchProducts(query: "chair", first: 3) { edges { node { name } } } }`, undefined, headers);
    expect(ok.errors).toBeUndefined();
    const refusedDeep = await postGraphQL(shop.url, deepQuery(16), { id: productId }, headers);
    expect(codes(refusedDeep)).toEqual(['MAX_DEPTH_LIMIT']);
    const after = await metrics();
    const delta = (name: string, extra: Record<string, string> = {}) =>
      metricSample(after, name, { ...labels, ...extra }) - metricSample(before, name, { ...labels, ...extra });
    expect(delta('shop_router_client_operations_total', { outcome: 'ok' })).toBe(1);
    expect(delta('shop_router_client_operations_total', { outcome: 'error' })).toBe(1);
    expect(delta('shop_router_client_errors_total', { code: 'MAX_DEPTH_LIMIT' })).toBe(1);
    const spent = (ok as { extensions?: { cost?: { actualQueryCost: number } } }).extensions!.cost!.actualQueryCost;
    expect(spent).toBeGreaterThan(0);
    expect(delta('shop_router_client_cost_total')).toBe(spent);
  });
});

describe('subscriptions through the guard', () => {
  const activeAt = async (service: string) =>
    metricSample(await (await fetch(shop.url.replace(/\/graphql$/, '/metrics'))).text(), 'shop_subscriptions_active', { service });

  it('refuses an anonymous order watch before anything opens upstream', async () => {
    const before = await activeAt('order');
    const client = liveClient(shop.url);
    try {
      const watch = client.subscribe(`subscription { orderUpdated(orderId: "${shop.data.orders[0]!.id}") { id status } }`);
      await watch.ended();
      expect(watch.error).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) })]);
      expect(await activeAt('order')).toBe(before);
    } finally {
      await client.dispose();
    }
  });

  it('refuses a subscription over the depth limit', async () => {
    const client = liveClient(shop.url);
    try {
      let inner = 'id';
      for (let level = 0; level < 15; level++) inner = `recommendations(first: 1) { ${inner} }`;
      const watch = client.subscribe(`subscription ($id: ID!) { stockChanged(productId: $id) { ${inner} } }`, { id: productId });
      await watch.ended();
      expect(watch.error).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'MAX_DEPTH_LIMIT' }) })]);
    } finally {
      await client.dispose();
    }
  });

  it('sends an anonymous stock watcher nulls and errors for the admin-only fields of each event', async () => {
    const client = liveClient(shop.url);
    try {
      const watch = client.subscribe(`subscription ($id: ID!) { stockChanged(productId: $id) { id availableQuantity stockLevels { onHand } } }`, { id: productId });
      await waitFor('the subscription to reach inventory', async () => (await activeAt('inventory')) > 0);
      const warehouse = shop.data.warehouses[0]!;
      const set = await shop.query(
        `mutation ($input: SetStockInput!) { setStock(input: $input) { onHand } }`,
        { input: { productId, warehouseId: warehouse.id, onHand: 42 } },
        adminToken,
      );
      expect(set.errors).toBeUndefined();
      const [event] = await watch.waitFor(1);
      // stockLevels is non-null on a non-null Product: the null reaches the root.
      expect(event).toEqual({ data: null, errors: [expect.objectContaining({ path: ['stockChanged', 'stockLevels'], extensions: { code: 'UNAUTHENTICATED' } })] });
    } finally {
      await client.dispose();
    }
  });
});

describe('the HTTP edge', () => {
  it('refuses a batch of operations', async () => {
    const response = await fetch(shop.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
    });
    expect(response.status).toBe(400);
  });

  it('refuses a simple GET a browser could send from another site (CSRF prevention)', async () => {
    const response = await fetch(`${shop.url}?query=${encodeURIComponent('{ __typename }')}`);
    expect(response.status).toBe(400);
    const allowed = await fetch(`${shop.url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(allowed.status).toBe(200);
  });

  it('refuses a mutation over GET', async () => {
    const response = await fetch(`${shop.url}?query=${encodeURIComponent('mutation { logout }')}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(response.status).toBe(405);
  });

  it('never sends a stack trace or an internal message', async () => {
    const res = await postGraphQL(shop.url, '{ product(id: ) { id } }', undefined, raw(customerToken));
    expect(JSON.stringify(res)).not.toMatch(/stacktrace|\bat .*\.(ts|js):\d+/);
  });
});

describe('production posture', () => {
  let router: RunningRouter;
  beforeAll(async () => {
    const urls = Object.fromEntries([...shop.subgraphs].map(([name, { service }]) => [name, service.url]));
    router = await startRouter({
      supergraphSdl: composeSupergraph(),
      subgraphUrls: urls,
      host: '127.0.0.1',
      port: 0,
      logger: shop.deps.logger,
      tokens: shop.deps.tokens,
      maxBodyBytes: 1024 * 1024,
      graceMs: 500,
      introspection: false,
      hideSchemaDetails: true,
    });
  });
  afterAll(() => router?.stop());

  it('answers no introspection', async () => {
    const res = await postGraphQL(router.url, '{ __schema { types { name } } }');
    expect(codes(res)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });

  it('suggests no field names in validation errors', async () => {
    const res = await postGraphQL(router.url, '{ produc(id: "x") { id } }');
    expect(codes(res)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(JSON.stringify(res)).not.toMatch(/Did you mean/);
    const development = await postGraphQL(shop.url, '{ produc(id: "x") { id } }');
    expect(JSON.stringify(development)).toMatch(/Did you mean/);
  });
});
