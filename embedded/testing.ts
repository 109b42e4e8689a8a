import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs';
import { composeSupergraph } from '../schema/compose';
import { postGraphQL, testDeps, type GraphQLResponse, type TestDeps } from '../platform/testing';
import { generateDemoShop, type DemoShopSize } from './demo-shop';
import type { DemoShop } from './demo-shop-types';
import { startShop, type RunningShop } from './shop';

/** A small demo shop: every kind of record, quick to seed. */
export const SMALL_SHOP: DemoShopSize = { products: 120, customers: 10, orders: 80 };
export const TEST_PASSWORD = 'test-password-123';

export interface TestShop extends RunningShop {
  deps: TestDeps;
  data: DemoShop;
  url: string;
  /** An operation through the router, with an optional bearer token. */
  query<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResponse<T>>;
  /** Logs a demo account in through the router and returns its access token. */
  login(email: string): Promise<string>;
  /** Statements each subgraph's stores have sent so far. */
  statements(): Record<SubgraphName, number>;
  close(): Promise<void>;
}

/** The whole shop on free ports and an in-memory store, seeded with a small demo shop. */
export async function startTestShop(size: DemoShopSize = SMALL_SHOP): Promise<TestShop> {
  const deps = await testDeps('pglite');
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
  });
  const url = shop.router.url;
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
    close: async () => {
      await shop.stop();
      await deps.release();
    },
  };
}
