/**
 * Two router processes, as containers run them, in front of one shop and one Redis: a
 * partner key's cost bucket is shared, so what one router took the other cannot spend, and
 * a key revoked through the graph is refused by both within 5 s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeSupergraph } from '../../schema/compose';
import { startProcess, type ServiceProcess } from '../../platform/test-processes';
import { waitFor, TEST_REDIS_URL } from '../../platform/testing';
import { startTestShop, type TestShop } from '../testing';

const run = TEST_REDIS_URL ? describe : describe.skip;
if (!TEST_REDIS_URL) process.stderr.write('SKIPPED: partner buckets across router processes (set TEST_REDIS_URL)\n');

jest.setTimeout(180_000);

const SEARCH = `{ searchProducts(first: 3) { edges { node { name } } } }`;

run('partner keys on two routers sharing Redis', () => {
  let shop: TestShop;
  const routers: ServiceProcess[] = [];

  beforeAll(async () => {
    shop = await startTestShop({ redis: true });
    const urls = Object.fromEntries([...shop.subgraphs].map(([name, { service }]) => [name, service.url]));
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'partner-routers-')), 'supergraph.graphql');
    fs.writeFileSync(file, composeSupergraph((name) => urls[name]!));
    const { config } = shop.deps;
    const env = {
      REDIS_URL: TEST_REDIS_URL!,
      EVENT_STREAM_PREFIX: config.EVENT_STREAM_PREFIX,
      SERVICE_TOKEN: config.SERVICE_TOKEN!,
      JWT_PUBLIC_KEY: config.JWT_PUBLIC_KEY!,
    };
    for (let i = 0; i < 2; i += 1) routers.push(await startProcess('router/main.ts', ['--supergraph', file, '--port', '0'], env));
  });

  afterAll(async () => {
    for (const router of routers.reverse()) expect(await router.stop()).toBe(0);
    await shop?.close();
  });

  const partner = async (router: ServiceProcess, secret: string, query = SEARCH) => {
    const response = await fetch(router.url.replace(/\/graphql$/, '/partner/graphql'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': secret },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as { errors?: { extensions?: Record<string, unknown> }[]; extensions?: { cost?: Record<string, any> } };
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body, cost: body.extensions?.cost };
  };

  it('shares one bucket per key between the routers, and refuses a revoked key on both within 5 s', async () => {
    const admin = await shop.login(shop.data.customers.find((c) => c.admin)!.email);
    const created = await shop.query<{ createApiKey: { secret: string; apiKey: { id: string } } }>(
      `mutation { createApiKey(input: { name: "Marketplace", maximumAvailable: 30, restoreRate: 1 }) { secret apiKey { id } } }`,
      {},
      admin,
    );
    const { secret, apiKey } = created.data!.createApiKey;
    const [first, second] = routers as [ServiceProcess, ServiceProcess];
    // Announced on the pub/sub, so both routers know the key at once; `__typename` costs nothing.
    await waitFor('both routers to know the new key', async () => (await partner(first, secret, '{ __typename }')).status === 200 && (await partner(second, secret, '{ __typename }')).status === 200, 5000);

    const onFirst = await partner(first, secret);
    expect(onFirst.status).toBe(200);
    expect(onFirst.cost).toEqual({ requestedQueryCost: 17, actualQueryCost: 17, throttleStatus: { maximumAvailable: 30, currentlyAvailable: 13, restoreRate: 1 } });
    // The second router sees what the first took: 13 left, 17 asked, 4 s to wait at 1 point a second.
    const onSecond = await partner(second, secret);
    expect(onSecond.status).toBe(429);
    expect(onSecond.retryAfter).toBe('4');
    expect(onSecond.body.errors?.[0]?.extensions?.code).toBe('THROTTLED');
    expect(onSecond.cost).toEqual({ requestedQueryCost: 17, throttleStatus: { maximumAvailable: 30, currentlyAvailable: 13, restoreRate: 1 } });

    await shop.query(`mutation ($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: apiKey.id }, admin);
    const began = Date.now();
    await waitFor('both routers to refuse the revoked key', async () => (await partner(first, secret)).status === 401 && (await partner(second, secret)).status === 401, 5000);
    const ms = Date.now() - began;
    process.stdout.write(`revoked partner key refused by both routers after ${ms} ms\n`);
    expect(ms).toBeLessThan(5000);
  });
});
