/**
 * The router's channels: the mobile apps run the trusted documents of the manifest by id
 * (POST, GET, WebSocket) and nothing else; other clients use APQ, shared through Redis by
 * every router; the manifest reloads without a restart. Every refusal is proven to cost no
 * subgraph request by the router's fetch counter.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeSupergraph } from '../../schema/compose';
import { documentId, type ManifestOperation } from '../../schema/manifest';
import { MANIFEST_FILE } from '../../schema/operations';
import { LiveReceiver, liveClient, metricSample, TEST_REDIS_URL } from '../../platform/testing';
import { startRouter, type RouterOptions, type RunningRouter } from '../../router/router';
import { startTestShop, TEST_PASSWORD, type TestShop } from '../testing';

jest.setTimeout(120_000);

const ADDRESS = { line1: '1 Canal Street', city: 'Amsterdam', postalCode: '1012 AB', country: 'NL' };
const operations = new Map((JSON.parse(fs.readFileSync(MANIFEST_FILE, 'utf8')).operations as ManifestOperation[]).map((op) => [op.name, op]));
const idOf = (name: string) => operations.get(name)!.id;
const persisted = (sha256Hash: string) => ({ persistedQuery: { version: 1, sha256Hash } });
const IOS = { 'apollographql-client-name': 'ios', 'apollographql-client-version': '3.2.0' };
const WEB = { 'apollographql-client-name': 'web', 'apollographql-client-version': '2024.10' };

interface Answer {
  status: number;
  headers: Headers;
  body: { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function answerOf(response: Response): Promise<Answer> {
  return { status: response.status, headers: response.headers, body: (await response.json()) as Answer['body'] };
}

function post(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(answerOf);
}

/** GET with each field JSON-encoded in the query string, as Apollo's protocol sends it. */
function get(url: string, fields: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) search.set(key, typeof value === 'string' ? value : JSON.stringify(value));
  return fetch(`${url}?${search}`, { headers }).then(answerOf);
}

const codes = (answer: Answer) => (answer.body.errors ?? []).map((e) => e.extensions?.code);

/** A product-page text no manifest holds. */
const FREE_TEXT = `query ($id: ID!) { product(id: $id) { name price { formatted } } }`;

let shop: TestShop;
let productId: string;

/** Subgraph requests a router has sent so far, all subgraphs together. */
const fetches = (router: RunningRouter) => [...router.subgraphFetches.values()].reduce((a, b) => a + b, 0);

/** Runs `request` and says how many subgraph requests it caused at `router`. */
async function counted<T>(router: RunningRouter, request: () => Promise<T>): Promise<{ result: T; fetched: number }> {
  const before = fetches(router);
  const result = await request();
  return { result, fetched: fetches(router) - before };
}

/** Another router on the shop's subgraphs, with its own persisted-operation settings. */
function routerOnShop(documents: RouterOptions['documents']): Promise<RunningRouter> {
  return startRouter({
    supergraphSdl: composeSupergraph(),
    subgraphUrls: Object.fromEntries([...shop.subgraphs].map(([name, { service }]) => [name, service.url])),
    host: '127.0.0.1',
    port: 0,
    logger: shop.deps.logger,
    tokens: shop.deps.tokens,
    maxBodyBytes: 1024 * 1024,
    graceMs: 500,
    ...(documents ? { documents } : {}),
  });
}

beforeAll(async () => {
  shop = await startTestShop();
  productId = shop.data.products[0]!.id;
});
afterAll(() => shop?.close());

describe('the mobile apps (safelisted clients)', () => {
  it('run a manifest query by id over POST', async () => {
    const { result, fetched } = await counted(shop.router, () =>
      post(shop.url, { operationName: 'ProductPage', variables: { id: productId }, extensions: persisted(idOf('ProductPage')) }, IOS),
    );
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data?.product).toMatchObject({ id: productId, name: shop.data.products[0]!.name, inStock: expect.any(Boolean) });
    expect(fetched).toBeGreaterThan(0);
  });

  it('run a manifest query by id over GET, cacheable by a CDN when sent without a token', async () => {
    const fields = { operationName: 'SearchProducts', variables: { first: 3 }, extensions: persisted(idOf('SearchProducts')) };
    const anonymous = await get(shop.url, fields, IOS);
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.errors).toBeUndefined();
    expect(anonymous.body.data?.searchProducts.edges).toHaveLength(3);
    expect(anonymous.headers.get('cache-control')).toBe('public, max-age=60');
    expect(anonymous.headers.get('vary')).toMatch(/apollographql-client-name/);

    const token = await shop.login(shop.data.customers.find((c) => !c.admin)!.email);
    const signedIn = await get(shop.url, fields, { ...IOS, authorization: `Bearer ${token}` });
    expect(signedIn.body.errors).toBeUndefined();
    expect(signedIn.headers.get('cache-control')).toBe('private, no-store');
  });

  it('run mutations by id over POST (sign in, fill the cart, place the order), and never over GET', async () => {
    const email = shop.data.customers.find((c) => !c.admin)!.email;
    const login = await post(shop.url, { variables: { input: { email, password: TEST_PASSWORD } }, extensions: persisted(idOf('Login')) }, IOS);
    expect(login.body.errors).toBeUndefined();
    const auth = { ...IOS, authorization: `Bearer ${login.body.data!.login.accessToken}` };

    const added = await post(shop.url, { variables: { input: { productId, quantity: 1 } }, extensions: persisted(idOf('AddToCart')) }, auth);
    expect(added.body.errors).toBeUndefined();
    expect(added.body.data!.addToCart.lines).toEqual(expect.arrayContaining([expect.objectContaining({ product: expect.objectContaining({ id: productId }) })]));

    const { result: overGet, fetched } = await counted(shop.router, () =>
      get(shop.url, { variables: { input: { productId, quantity: 2 } }, extensions: persisted(idOf('UpdateCartLine')) }, auth),
    );
    expect(overGet.status).toBe(405);
    expect(fetched).toBe(0);

    const refreshed = await post(shop.url, { variables: { refreshToken: login.body.data!.login.refreshToken }, extensions: persisted(idOf('RefreshSession')) }, IOS);
    expect(refreshed.body.errors).toBeUndefined();
    expect(refreshed.body.data!.refreshSession.accessToken).toEqual(expect.any(String));
  });

  it('follow an order by id over WebSocket, and may not subscribe with text', async () => {
    const token = await shop.login(shop.data.customers.filter((c) => !c.admin)[1]!.email);
    const auth = { ...IOS, authorization: `Bearer ${token}` };
    const added = await post(shop.url, { variables: { input: { productId, quantity: 1 } }, extensions: persisted(idOf('AddToCart')) }, auth);
    expect(added.body.errors).toBeUndefined();
    const placed = await post(
      shop.url,
      { variables: { input: { idempotencyKey: randomUUID(), shippingAddress: ADDRESS, paymentToken: 'tok_visa' } }, extensions: persisted(idOf('PlaceOrder')) },
      auth,
    );
    expect(placed.body.errors).toBeUndefined();
    const orderId = placed.body.data!.placeOrder.id as string;

    const live = liveClient(shop.url, { authorization: `Bearer ${token}`, 'apollographql-client-name': 'ios' });
    try {
      const tracking = new LiveReceiver();
      // graphql-ws requires a `query` string: an empty one stands for "by id".
      live.client.subscribe({ query: '', variables: { orderId }, extensions: persisted(idOf('OrderTracking')) }, tracking.sink);
      const [first] = await tracking.waitFor(1, 10_000);
      expect(first!.errors).toBeUndefined();
      expect(first!.data!.orderUpdated).toMatchObject({ id: orderId, status: expect.any(String) });

      const before = fetches(shop.router);
      const text = new LiveReceiver();
      live.client.subscribe({ query: `subscription ($orderId: ID!) { orderUpdated(orderId: $orderId) { status } }`, variables: { orderId } }, text.sink);
      await text.ended();
      expect((text.error as { extensions?: { code?: string } }[])[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_IN_LIST');
      const unknown = new LiveReceiver();
      live.client.subscribe({ query: '', variables: { orderId }, extensions: persisted(documentId('subscription Gone { x }')) }, unknown.sink);
      await unknown.ended();
      expect((unknown.error as { extensions?: { code?: string } }[])[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
      expect(fetches(shop.router)).toBe(before);
    } finally {
      await live.dispose();
    }
  });

  it('are refused free text and unknown ids before any subgraph is asked', async () => {
    const { result: text, fetched: textFetches } = await counted(shop.router, () => post(shop.url, { query: FREE_TEXT, variables: { id: productId } }, IOS));
    expect({ status: text.status, codes: codes(text), data: text.body.data }).toEqual({ status: 400, codes: ['PERSISTED_QUERY_NOT_IN_LIST'], data: undefined });
    expect(textFetches).toBe(0);

    const { result: overGet, fetched: getFetches } = await counted(shop.router, () => get(shop.url, { query: FREE_TEXT, variables: { id: productId } }, IOS));
    expect(codes(overGet)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
    expect(getFetches).toBe(0);

    const { result: unknown, fetched: unknownFetches } = await counted(shop.router, () =>
      post(shop.url, { variables: { id: productId }, extensions: persisted(documentId(FREE_TEXT)) }, IOS),
    );
    expect(codes(unknown)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(unknownFetches).toBe(0);

    // Registering a text of its own, the APQ way, is refused too.
    const { result: register, fetched: registerFetches } = await counted(shop.router, () =>
      post(shop.url, { query: FREE_TEXT, variables: { id: productId }, extensions: persisted(documentId(FREE_TEXT)) }, IOS),
    );
    expect(codes(register)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
    expect(registerFetches).toBe(0);
  });

  it('may send a manifest operation as its exact text; other clients may send anything', async () => {
    const exact = await post(shop.url, { query: operations.get('ProductPage')!.body, variables: { id: productId } }, IOS);
    expect(exact.body.errors).toBeUndefined();
    const web = await post(shop.url, { query: FREE_TEXT, variables: { id: productId } }, WEB);
    expect(web.body.data?.product.name).toBe(shop.data.products[0]!.name);
  });

  it('are counted per client name and version', async () => {
    const text = await (await fetch(shop.url.replace('/graphql', '/metrics'))).text();
    const labels = { client_name: 'ios', client_version: '3.2.0' };
    expect(metricSample(text, 'shop_router_persisted_operations_total', { ...labels, outcome: 'manifest_hit' })).toBeGreaterThanOrEqual(5);
    expect(metricSample(text, 'shop_router_persisted_operations_total', { ...labels, outcome: 'miss' })).toBeGreaterThanOrEqual(1);
    expect(metricSample(text, 'shop_router_persisted_operations_total', { ...labels, outcome: 'refused' })).toBeGreaterThanOrEqual(3);
  });
});

describe('APQ for other clients', () => {
  /** A text of its own per test, so nothing another test registered is found. */
  const uniqueText = () => `query Apq${randomBytes(4).toString('hex')}($id: ID!) { product(id: $id) { name } }`;

  it('answers an unknown id with PERSISTED_QUERY_NOT_FOUND, registers id and text, then runs the id alone', async () => {
    const query = uniqueText();
    const id = documentId(query);
    const { result: miss, fetched } = await counted(shop.router, () => post(shop.url, { variables: { id: productId }, extensions: persisted(id) }, WEB));
    expect({ status: miss.status, codes: codes(miss) }).toEqual({ status: 200, codes: ['PERSISTED_QUERY_NOT_FOUND'] });
    expect(fetched).toBe(0);

    const registered = await post(shop.url, { query, variables: { id: productId }, extensions: persisted(id) }, WEB);
    expect(registered.body.data?.product.name).toBe(shop.data.products[0]!.name);
    const hit = await post(shop.url, { variables: { id: productId }, extensions: persisted(id) }, WEB);
    expect(hit.body).toMatchObject({ data: { product: { name: shop.data.products[0]!.name } } });

    // The mobile apps never run what APQ registered.
    expect(codes(await post(shop.url, { variables: { id: productId }, extensions: persisted(id) }, IOS))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });

  it('does not register a text that does not validate', async () => {
    const query = `query Broken${randomBytes(4).toString('hex')} { product(id: "1") { colour } }`;
    const id = documentId(query);
    expect(codes(await post(shop.url, { query, extensions: persisted(id) }, WEB))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(codes(await post(shop.url, { extensions: persisted(id) }, WEB))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });

  it('refuses an id that is not the SHA-256 of the text with PERSISTED_QUERY_HASH_MISMATCH', async () => {
    const { result, fetched } = await counted(shop.router, () =>
      post(shop.url, { query: uniqueText(), variables: { id: productId }, extensions: persisted(idOf('Home')) }, WEB),
    );
    expect({ status: result.status, codes: codes(result) }).toEqual({ status: 400, codes: ['PERSISTED_QUERY_HASH_MISMATCH'] });
    expect(fetched).toBe(0);
    // The manifest's Home is untouched.
    expect((await post(shop.url, { extensions: persisted(idOf('Home')) }, WEB)).body.data?.categories.length).toBeGreaterThan(0);
  });

  it('serves registered queries over GET with CDN caching headers, and never caches a miss', async () => {
    const query = uniqueText();
    const fields = { variables: { id: productId }, extensions: persisted(documentId(query)) };
    const miss = await get(shop.url, fields, WEB);
    expect(codes(miss)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(miss.headers.get('cache-control')).toBe('private, no-store');
    await get(shop.url, { ...fields, query }, WEB);
    const hit = await get(shop.url, fields, WEB);
    expect(hit.body.errors).toBeUndefined();
    expect(hit.headers.get('cache-control')).toBe('public, max-age=60');
    // Plain text over GET is not a persisted query: Apollo Server's own answer (no-store).
    const plain = await get(shop.url, { query, variables: { id: productId } }, WEB);
    expect(plain.headers.get('cache-control')).toBe('no-store');
  });

  it('with APQ=false answers ids outside the manifest with PERSISTED_QUERY_NOT_SUPPORTED; manifest ids still work', async () => {
    const router = await routerOnShop({ manifestPath: MANIFEST_FILE, apq: false });
    try {
      const query = uniqueText();
      const { result, fetched } = await counted(router, () => post(router.url, { variables: { id: productId }, extensions: persisted(documentId(query)) }, WEB));
      expect(codes(result)).toEqual(['PERSISTED_QUERY_NOT_SUPPORTED']);
      expect(fetched).toBe(0);
      expect(codes(await post(router.url, { query, variables: { id: productId }, extensions: persisted(documentId(query)) }, WEB))).toEqual([
        'PERSISTED_QUERY_NOT_SUPPORTED',
      ]);
      const manifest = await post(router.url, { variables: { id: productId }, extensions: persisted(idOf('ProductPage')) }, WEB);
      expect(manifest.body.data?.product.id).toBe(productId);
    } finally {
      await router.stop();
    }
  });

  (TEST_REDIS_URL ? it : it.skip)('shares registered texts between routers through Redis', async () => {
    const documents = { redisUrl: TEST_REDIS_URL!, redisKeyPrefix: `test-${randomBytes(6).toString('hex')}`, apqTtlSeconds: 60 };
    const [first, second] = await Promise.all([routerOnShop(documents), routerOnShop(documents)]);
    try {
      const query = uniqueText();
      const id = documentId(query);
      expect(codes(await post(second.url, { variables: { id: productId }, extensions: persisted(id) }, WEB))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
      const registered = await post(first.url, { query, variables: { id: productId }, extensions: persisted(id) }, WEB);
      expect(registered.body.errors).toBeUndefined();
      // Registration is written once the operation validated, alongside its execution.
      let hit: Answer | undefined;
      for (let attempt = 0; attempt < 50 && !hit?.body.data; attempt++) {
        hit = await post(second.url, { variables: { id: productId }, extensions: persisted(id) }, WEB);
        if (!hit.body.data) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(hit!.body).toMatchObject({ data: { product: { name: shop.data.products[0]!.name } } });
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });
  if (!TEST_REDIS_URL) process.stderr.write('SKIPPED: APQ shared through Redis (set TEST_REDIS_URL)\n');
});

describe('the manifest', () => {
  it('reloads without dropping requests, and a bad file keeps the one in use', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-'));
    const file = path.join(dir, 'manifest.json');
    const home = operations.get('Home')!;
    const write = (ops: ManifestOperation[]) => fs.writeFileSync(file, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: ops }));
    write([home]);
    const router = await routerOnShop({ manifestPath: file, safelistClients: ['ios'] });
    try {
      const page = operations.get('ProductPage')!;
      const runPage = () => post(router.url, { variables: { id: productId }, extensions: persisted(page.id) }, IOS);
      expect(codes(await runPage())).toEqual(['PERSISTED_QUERY_NOT_FOUND']);

      write([home, page]);
      // Requests in flight while the manifest is swapped are all answered.
      const during = Array.from({ length: 20 }, () => post(router.url, { extensions: persisted(home.id) }, IOS));
      expect(await router.reloadDocuments()).toBe(true);
      for (const answer of await Promise.all(during)) expect(answer.body.errors).toBeUndefined();
      expect((await runPage()).body.data?.product.id).toBe(productId);

      fs.writeFileSync(file, '{ "format": "apollo-persisted-query-manifest", "version": 1, "operations": [{ "id": "0000", "body": "{ me { id } }" }] }');
      expect(await router.reloadDocuments()).toBe(false);
      fs.writeFileSync(file, '{ not json');
      expect(await router.reloadDocuments()).toBe(false);
      expect((await runPage()).body.data?.product.id).toBe(productId);
    } finally {
      await router.stop();
    }
  });

  it('that cannot be read stops the router from starting', async () => {
    await expect(routerOnShop({ manifestPath: path.join(os.tmpdir(), 'no-such-manifest.json') })).rejects.toThrow(/ENOENT/);
  });
});
