import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs';
import { composeSupergraph } from '../schema/compose';
import { randomBytes } from 'node:crypto';
import { EVENT_TYPES, type EventEnvelope } from '../platform/events';
import { postGraphQL, testDeps, TEST_DATABASE_URL, TEST_REDIS_URL, type GraphQLResponse, type StoreBackend, type TestDeps } from '../platform/testing';
import { generateDemoShop, SMALL_SIZE, type DemoShopSize } from '../platform/demo-shop';
import type { DemoShop } from '../platform/demo-shop-types';
import { startShop, type RunningShop } from './shop';
import { documentSettingsFrom } from '../router/documents';

/** A small demo shop: every kind of record, quick to seed. */
export const SMALL_SHOP: DemoShopSize = SMALL_SIZE;
export const TEST_PASSWORD = 'test-password-123';

export interface TestShop extends RunningShop {
  deps: TestDeps;
  data: DemoShop;
  url: string;
  /** An operation through the router, with an optional bearer token. */
  query<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResponse<T>>;
  /** Logs a demo account in through the router and returns its access token. */
  login(email: string): Promise<string>;
  /** Every domain event published since the shop started, oldest first (a consumer group of its own). */
  events: EventEnvelope[];
  /** Statements each subgraph's stores have sent so far. */
  statements(): Record<SubgraphName, number>;
  close(): Promise<void>;
}

export interface TestShopOptions {
  size?: DemoShopSize;
  /** Stores: in-memory PGlite (default), or every subgraph on a fresh database of the test server. */
  backend?: StoreBackend;
  /** Events over Redis Streams at TEST_REDIS_URL instead of in-process. */
  redis?: boolean;
  /** Extra configuration, as environment variables. */
  env?: Record<string, string>;
}

export { TEST_REDIS_URL };

/** Real-store variants available in this run; says once, loudly, what is skipped. */
export function realStoreVariants(): { name: string; backend: StoreBackend; redis: boolean }[] {
  const variants: { name: string; backend: StoreBackend; redis: boolean }[] = [
    { name: 'PGlite, in-process events', backend: 'pglite', redis: false },
  ];
  if (TEST_DATABASE_URL && TEST_REDIS_URL) variants.push({ name: 'PostgreSQL, Redis Streams', backend: 'postgres', redis: true });
  else process.stderr.write('SKIPPED: checkout on PostgreSQL and Redis (set TEST_DATABASE_URL and TEST_REDIS_URL)\n');
  return variants;
}

/**
 * The whole shop on free ports, seeded with a small demo shop. Background polling is
 * slow by default (relays are notified on every write), so statement counts are quiet.
 */
export async function startTestShop(options: TestShopOptions = {}): Promise<TestShop> {
  const size = options.size ?? SMALL_SHOP;
  const env: Record<string, string> = { OUTBOX_POLL_MS: '60000', RESERVATION_SWEEP_MS: '60000', ...options.env };
  if (options.redis) {
    if (!TEST_REDIS_URL) throw new Error('TEST_REDIS_URL is not set');
    env.REDIS_URL = TEST_REDIS_URL;
    // Events that arrive before the one they depend on are retried after the reclaim idle time.
    env.EVENT_RECLAIM_IDLE_MS ??= '300';
    env.EVENT_STREAM_PREFIX = `test-${randomBytes(6).toString('hex')}`;
  }
  const deps = await testDeps(options.backend ?? 'pglite', SUBGRAPHS.map((s) => s.name), env);
  const data = generateDemoShop(size);
  const shop = await startShop({
    deps,
    host: '127.0.0.1',
    routerPort: 0,
    subgraphPorts: Object.fromEntries(SUBGRAPHS.map(({ name }) => [name, 0])) as Record<SubgraphName, number>,
    supergraphSdl: composeSupergraph(),
    seed: { shop: data, password: TEST_PASSWORD, nodeEnv: 'test' },
    maxBodyBytes: 1024 * 1024,
    graceMs: 1000,
    // Persisted operations as configured (the apps' manifest, SAFELIST_CLIENTS, APQ); the rest of the edge at its defaults.
    edge: { documents: documentSettingsFrom(deps.config) },
  });
  const url = shop.router.url;
  const events: EventEnvelope[] = [];
  const observer = (await deps.events()).subscribe('test-observer', EVENT_TYPES, async (event) => {
    events.push(event);
  });
  const query: TestShop['query'] = (q, variables, token) =>
    postGraphQL(url, q, variables, token ? { authorization: `Bearer ${token}` } : {});
  return {
    ...shop,
    deps,
    data,
    url,
    query,
    login: async (email) => {
      const res = await query<{ login: { accessToken: string } }>(
        `mutation ($input: LoginInput!) { login(input: $input) { accessToken } }`,
        { input: { email, password: TEST_PASSWORD } },
      );
      if (!res.data?.login) throw new Error(`login of ${email} failed: ${JSON.stringify(res.errors)}`);
      return res.data.login.accessToken;
    },
    statements: () =>
      Object.fromEntries(
        [...shop.subgraphs].map(([name, { definition }]) => [
          name,
          definition.stores.reduce((n, s) => n + s.statementCount(), 0),
        ]),
      ) as Record<SubgraphName, number>,
    events,
    close: async () => {
      await observer.close();
      await shop.stop();
      await deps.release();
    },
  };
}
