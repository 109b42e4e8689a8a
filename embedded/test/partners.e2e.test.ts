/**
 * The partner endpoint through the router of the whole shop: the contract and nothing
 * else, API keys from creation to revocation, and the cost bucket of each key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sleep, waitFor, type GraphQLResponse } from '../../platform/testing';
import { startTestShop, type TestShop } from '../testing';

jest.setTimeout(120_000);

const CREATE_KEY = `mutation ($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id name prefix maximumAvailable restoreRate createdAt lastUsedAt revokedAt } }
}`;
const SEARCH = `{ searchProducts(first: 3) { edges { node { name availableQuantity } } } }`;
const PRODUCT = `query ($id: ID!) { product(id: $id) { name price { amount } } }`;

interface Cost {
  requestedQueryCost: number;
  actualQueryCost?: number;
  throttleStatus: { maximumAvailable: number; currentlyAvailable: number; restoreRate: number };
}

describe('the partner endpoint', () => {
  let shop: TestShop;
  let admin: string;
  let partnerUrl: string;
  const base = () => shop.url.replace(/\/graphql$/, '');

  /** POSTs to /partner/graphql with the key; the HTTP status and headers too. */
  async function partner(query: string, key: string | undefined, variables?: Record<string, unknown>) {
    const response = await fetch(partnerUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as GraphQLResponse & { extensions?: { cost?: Cost } };
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body, cost: body.extensions?.cost };
  }

  async function createKey(input: Record<string, unknown>) {
    const created = await shop.query<{ createApiKey: { secret: string; apiKey: Record<string, any> } }>(CREATE_KEY, { input }, admin);
    expect(created.errors).toBeUndefined();
    return created.data!.createApiKey;
  }

  const fetches = () => [...shop.router.subgraphFetches.values()].reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    shop = await startTestShop({ env: { API_KEY_USE_FLUSH_MS: '200' } });
    admin = await shop.login(shop.data.customers.find((c) => c.admin)!.email);
    partnerUrl = `${base()}/partner/graphql`;
  });

  afterAll(() => shop?.close());

  describe('contract', () => {
    let key: string;
    beforeAll(async () => {
      key = (await createKey({ name: 'Contract checks' })).secret;
    });

    it('introspects as the contract only: catalog, search, availability, recommendations', async () => {
      const { status, body } = await partner(`{ __schema { types { name } } product: __type(name: "Product") { fields { name } } customer: __type(name: "Customer") { name } }`, key);
      expect(status).toBe(200);
      const types = (body.data!.__schema.types as { name: string }[]).map((t) => t.name).filter((n) => !n.startsWith('__'));
      expect(types).toEqual(expect.arrayContaining(['Product', 'Category', 'Brand', 'Money', 'ProductSearchResult', 'ProductFacets', 'ProductSort', 'ProductFilter']));
      for (const hidden of ['Customer', 'Order', 'Payment', 'StockLevel', 'Warehouse', 'ApiKey', 'Mutation', 'Subscription']) expect(types).not.toContain(hidden);
      expect((body.data!.product.fields as { name: string }[]).map((f) => f.name).sort()).toEqual(
        ['archived', 'archivedAt', 'availableQuantity', 'brand', 'category', 'createdAt', 'description', 'id', 'inStock', 'name', 'price', 'recommendations', 'sku'],
      );
      expect(body.data!.customer).toBeNull();
    });

    it('answers data and introspection together, the introspection from the contract', async () => {
      const { body } = await partner(`{ __typename mutationType: __schema { mutationType { name } } categories { name } }`, key);
      expect(body.errors).toBeUndefined();
      expect(body.data).toMatchObject({ __typename: 'Query', mutationType: { mutationType: null } });
      expect((body.data!.categories as unknown[]).length).toBeGreaterThan(0);
    });

    it('refuses a field outside the contract in validation, without asking any subgraph', async () => {
      const before = fetches();
      for (const query of ['{ me { id } }', '{ product(id: "x") { stockLevels { onHand } } }', 'mutation { logout }']) {
        const { status, body } = await partner(query, key);
        expect({ query, status, code: body.errors?.[0]?.extensions?.code }).toEqual({ query, status: 400, code: 'GRAPHQL_VALIDATION_FAILED' });
      }
      expect(fetches()).toBe(before);
    });

    it('serves the contract SDL, the committed schema/partner.graphql', async () => {
      const response = await fetch(`${base()}/partner/schema.graphql`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await response.text()).toBe(fs.readFileSync(path.resolve(__dirname, '../../schema/partner.graphql'), 'utf8'));
    });

    it('refuses a request without a key or with an unknown one: 401 UNAUTHENTICATED, no subgraph asked', async () => {
      const before = fetches();
      for (const sent of [undefined, 'sk_live_not-a-key']) {
        const { status, body } = await partner('{ categories { name } }', sent);
        expect(status).toBe(401);
        expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      }
      expect(fetches()).toBe(before);
    });

    it('leaves API key management to admins on the main endpoint', async () => {
      const customer = await shop.login(shop.data.customers.find((c) => !c.admin)!.email);
      const refused = await shop.query(CREATE_KEY, { input: { name: 'mine' } }, customer);
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const anonymous = await shop.query(`{ apiKeys { id } }`);
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });
  });

  it('lives from creation to revocation: shown once, used, its use recorded, refused once revoked', async () => {
    const { secret, apiKey } = await createKey({ name: 'Affiliate A' });
    expect(secret).toMatch(/^sk_live_[A-Za-z0-9_-]{43}$/);
    expect(apiKey).toMatchObject({ name: 'Affiliate A', prefix: secret.slice(0, 12), maximumAvailable: 1000, restoreRate: 50, lastUsedAt: null, revokedAt: null });

    const used = await partner('{ categories { name } }', secret);
    expect(used.status).toBe(200);
    const listed = async () => (await shop.query<{ apiKeys: Record<string, any>[] }>(`{ apiKeys { id prefix lastUsedAt revokedAt } }`, {}, admin)).data!.apiKeys.find((k) => k.id === apiKey.id)!;
    expect(JSON.stringify(await shop.query(`{ apiKeys { id } }`, {}, admin))).not.toContain(secret);
    await waitFor('lastUsedAt to be recorded', async () => (await listed()).lastUsedAt !== null, 5000);

    const revoked = await shop.query<{ revokeApiKey: { revokedAt: string } }>(`mutation ($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: apiKey.id }, admin);
    expect(revoked.data?.revokeApiKey.revokedAt).toEqual(expect.any(String));
    const began = Date.now();
    await waitFor('the revoked key to be refused', async () => (await partner('{ categories { name } }', secret)).status === 401, 5000);
    expect(Date.now() - began).toBeLessThan(5000);
    expect((await listed()).revokedAt).toEqual(revoked.data!.revokeApiKey.revokedAt);
  });

  it('takes the requested cost, gives back what was not used, throttles with 429 and Retry-After, and refills', async () => {
    const { secret } = await createKey({ name: 'Small bucket', maximumAvailable: 30, restoreRate: 1 });
    const status = (currentlyAvailable: number) => ({ maximumAvailable: 30, currentlyAvailable, restoreRate: 1 });

    // Estimated 10 (the search) + 1 (its result) + 3 × (edge + product) = 17; all of it returned.
    const first = await partner(SEARCH, secret);
    expect(first.status).toBe(200);
    expect(first.cost).toEqual({ requestedQueryCost: 17, actualQueryCost: 17, throttleStatus: status(13) });

    const before = fetches();
    const throttled = await partner(SEARCH, secret);
    expect(throttled.status).toBe(429);
    expect(throttled.retryAfter).toBe('4');
    expect(throttled.body.errors?.[0]?.extensions).toMatchObject({ code: 'THROTTLED', retryAfterSeconds: 4 });
    expect(throttled.body.data).toBeUndefined();
    expect(throttled.cost).toEqual({ requestedQueryCost: 17, throttleStatus: status(13) });
    expect(fetches()).toBe(before);

    // A product that does not exist: 2 taken, 2 given back.
    const missing = await partner(PRODUCT, secret, { id: 'no-such-product' });
    expect(missing.body.data).toEqual({ product: null });
    expect(missing.cost).toEqual({ requestedQueryCost: 2, actualQueryCost: 0, throttleStatus: status(13) });

    // More than the bucket ever holds: refused as too expensive, not to be retried.
    const huge = await partner(`{ products(ids: ["a"]) { name } }`, secret);
    expect(huge.status).toBe(400);
    expect(huge.body.errors?.[0]?.extensions).toMatchObject({ code: 'COST_ESTIMATED_TOO_EXPENSIVE', maxCost: 30 });

    await sleep(4000);
    const refilled = await partner(SEARCH, secret);
    expect(refilled.status).toBe(200);
    expect(refilled.cost?.throttleStatus.currentlyAvailable).toBe(0);
  });

  it('counts partner operations, cost and throttling per key in /metrics', async () => {
    const { secret, apiKey } = await createKey({ name: 'Metered', maximumAvailable: 20, restoreRate: 1 });
    await partner(SEARCH, secret);
    await partner(SEARCH, secret);
    const text = await (await fetch(`${base()}/metrics`)).text();
    const sample = (name: string, labels: string) => new RegExp(`^${name}\\{${labels}\\} (\\d+)`, 'm').exec(text)?.[1];
    expect(sample('shop_partner_operations_total', `key="${apiKey.id}",outcome="ok"`)).toBe('1');
    expect(sample('shop_partner_operations_total', `key="${apiKey.id}",outcome="error"`)).toBe('1');
    expect(sample('shop_partner_throttled_total', `key="${apiKey.id}"`)).toBe('1');
    expect(sample('shop_partner_cost_total', `key="${apiKey.id}"`)).toBe('17');
    expect(sample('shop_partner_errors_total', `key="${apiKey.id}",code="THROTTLED"`)).toBe('1');
  });

  it('serves GET queries too', async () => {
    const { secret } = await createKey({ name: 'GET' });
    const response = await fetch(`${partnerUrl}?query=${encodeURIComponent('{ brands { name } }')}`, { headers: { 'x-api-key': secret, 'apollo-require-preflight': 'true' } });
    expect(response.status).toBe(200);
    expect(Array.isArray(((await response.json()) as GraphQLResponse).data?.brands)).toBe(true);
  });
});
