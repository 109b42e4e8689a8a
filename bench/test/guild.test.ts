/**
 * The Guild benchmark's subgraphs answer its query as the published benchmark expects, through
 * stock `@apollo/gateway` and through the router (guard on, subgraph requests deduplicated or
 * not): what `bench/gateway.ts` checks before it measures anything. Also the load generator's
 * figures.
 */
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { AccessTokens, generateTokenKeys } from '../../platform/auth';
import { silentLogger } from '../../platform/logger';
import { startRouter } from '../../router/router';
import fs from 'node:fs';
import { composeGuildSupergraph, GUILD_DATA_DIR, readGuildScenario, startGuildSubgraphs, type GuildScenario, type GuildSubgraphServers } from '../guild/subgraphs';
import { quantile, summarize } from '../load-generator';

async function post(url: string, body: string): Promise<{ status: number; json: { data?: unknown; errors?: unknown } }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: response.status, json: (await response.json()) as { data?: unknown; errors?: unknown } };
}

// The scenario's data lives beside the repository (../shared/bench/guild), not in it.
const haveScenario = fs.existsSync(GUILD_DATA_DIR);
if (!haveScenario) process.stderr.write(`SKIPPED: the Guild benchmark scenario (no data at ${GUILD_DATA_DIR})\n`);

(haveScenario ? describe : describe.skip)('the Guild benchmark scenario', () => {
  let scenario: GuildScenario;
  let subgraphs: GuildSubgraphServers;
  let supergraphSdl: string;

  beforeAll(async () => {
    scenario = readGuildScenario();
    subgraphs = await startGuildSubgraphs(scenario.data);
    supergraphSdl = composeGuildSupergraph(subgraphs.urls);
  });
  afterAll(async () => {
    await subgraphs?.close();
  });

  it('is answered exactly as expected.json by stock @apollo/gateway', async () => {
    const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl, logger: silentLogger() }), logger: silentLogger() });
    const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
    try {
      const before = Object.values(subgraphs.requests()).reduce((a, b) => a + b, 0);
      const { status, json } = await post(url, scenario.requestBody);
      expect(status).toBe(200);
      expect(json.errors).toBeUndefined();
      expect(json.data).toEqual(scenario.expected.data);
      // Every subgraph took part, inventory after products (shippingEstimate @requires price and weight).
      expect(Object.values(subgraphs.requests()).reduce((a, b) => a + b, 0)).toBeGreaterThan(before + 4);
    } finally {
      await server.stop();
    }
  });

  it.each([true, false])('is answered exactly as expected.json by the router with its guard on (deduplicating subgraph requests: %s)', async (deduplicate) => {
    const router = await startRouter({
      supergraphSdl,
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
      tokens: new AccessTokens(await generateTokenKeys(), { issuer: 'guild', ttlSeconds: 600 }),
      maxBodyBytes: 1024 * 1024,
      graceMs: 200,
      // The query is estimated at 24,420: the graph has no @listSize.
      maxCost: 50_000,
      deduplicateSubgraphRequests: deduplicate,
    });
    try {
      const answers = await Promise.all(Array.from({ length: 4 }, () => post(router.url, scenario.requestBody)));
      for (const { status, json } of answers) {
        expect(status).toBe(200);
        expect(json.errors).toBeUndefined();
        expect(json.data).toEqual(scenario.expected.data);
      }
    } finally {
      await router.stop();
    }
  });

  it('has the rules of the original subgraphs', async () => {
    const query = async (name: keyof GuildSubgraphServers['urls'], text: string) => (await post(subgraphs.urls[name], JSON.stringify({ query: text }))).json;
    expect(await query('products', '{ topProducts(first: 2) { upc name } }')).toEqual({ data: { topProducts: [{ upc: '1', name: 'Table' }, { upc: '2', name: 'Couch' }] } });
    expect(await query('accounts', '{ me { id username } user(id: "3") { name } }')).toEqual({ data: { me: { id: '1', username: 'urigo' }, user: { name: 'Kamil Kisiela' } } });
    // Inventory's own record has no price or weight, whatever the representation says.
    expect(await query('inventory', '{ _entities(representations: [{ __typename: "Product", upc: "1", price: 899, weight: 100 }]) { ... on Product { inStock shippingEstimate } } }')).toEqual({
      data: { _entities: [{ inStock: true, shippingEstimate: null }] },
    });
    const reviews = await query('reviews', '{ _entities(representations: [{ __typename: "User", id: "5" }]) { ... on User { reviews { id author { id username } product { upc } } } } }');
    expect(reviews).toEqual({
      data: {
        _entities: [
          {
            reviews: [
              { id: '1', author: { id: '1', username: 'urigo' }, product: { upc: '1' } },
              { id: '2', author: { id: '1', username: 'urigo' }, product: { upc: '1' } },
            ],
          },
        ],
      },
    });
    expect((await post(subgraphs.urls.reviews, JSON.stringify({ query: '{ nope }' }))).status).toBe(400);
  });

  it('executes each request body once and answers it again with the bytes it got', async () => {
    // Their data never changes while a benchmark runs; here it does, to tell a kept answer from a fresh one.
    const data = structuredClone(scenario.data);
    const own = await startGuildSubgraphs(data);
    try {
      const body = JSON.stringify({ query: '{ topProducts(first: 1) { upc name } }' });
      const first = await post(own.urls.products, body);
      data.products[0]!.name = 'Renamed';
      const again = await post(own.urls.products, body);
      const other = await post(own.urls.products, JSON.stringify({ query: '{ topProducts(first: 1) { name upc } }' }));
      expect(first.json).toEqual({ data: { topProducts: [{ upc: '1', name: 'Table' }] } });
      expect(again.json).toEqual(first.json);
      expect(other.json).toEqual({ data: { topProducts: [{ name: 'Renamed', upc: '1' }] } });
      expect(own.requests().products).toBe(3);
    } finally {
      await own.close();
    }
  });
});

describe('the load generator', () => {
  it('reads percentiles by nearest rank', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(sorted, 0.5)).toBe(50);
    expect(quantile(sorted, 0.99)).toBe(99);
    expect(quantile(sorted, 1)).toBe(100);
    expect(quantile(sorted, 0)).toBe(1);
    expect(quantile([], 0.5)).toBe(0);
    expect(quantile([7], 0.99)).toBe(7);
  });

  it('summarizes a window', () => {
    const figures = summarize([30, 10, 20, 40], 1, 2, 4000);
    expect(figures).toEqual({ requests: 4, failures: 1, seconds: 2, perSecond: 2, p50: 20, p90: 40, p99: 40, max: 40, mean: 25, bytes: 1000 });
    expect(summarize([], 0, 1, 0)).toMatchObject({ requests: 0, perSecond: 0, p50: 0, mean: 0, bytes: 0 });
  });
});
