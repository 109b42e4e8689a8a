import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { postGraphQL, serveTestSubgraph, testDeps, type TestDeps } from '../../platform/testing';
import { startProcess } from '../../platform/test-processes';
import { inventorySubgraph, openInventoryStore, typeDefs } from '../../subgraphs/inventory/subgraph';

/** The router verifies tokens itself, so it is given the public key the test's tokens are signed for. */
function startRouterProcess(args: string[], publicKey: string) {
  return startProcess('router/main.ts', args, { JWT_PUBLIC_KEY: publicKey }, 30_000);
}

describe('the router program', () => {
  let deps: TestDeps;
  let subgraph: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let supergraphFile: string;
  const seenRequestIds: string[] = [];

  beforeAll(async () => {
    deps = await testDeps('pglite');
    const store = await openInventoryStore(deps);
    await store.addWarehouses([{ id: 'wh-1', code: 'AMS-1', name: 'Amsterdam', city: 'Amsterdam', country: 'NL' }]);
    const definition = inventorySubgraph(store);
    const context = definition.context;
    definition.context = (base) => {
      seenRequestIds.push(base.requestId);
      return context(base);
    };
    subgraph = await serveTestSubgraph(definition, deps);
    const composed = composeServices([{ name: 'inventory', url: subgraph.url, typeDefs }]);
    expect(composed.errors).toBeUndefined();
    supergraphFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'supergraph-')), 'supergraph.graphql');
    fs.writeFileSync(supergraphFile, composed.supergraphSdl!);
  });

  afterAll(async () => {
    await subgraph.stop();
    await deps.release();
  });

  it('serves any composed supergraph, forwards token and request id, and exits cleanly on SIGTERM', async () => {
    const { url, stop } = await startRouterProcess(['--supergraph', supergraphFile, '--port', '0'], deps.config.JWT_PUBLIC_KEY!);
    try {
      const base = url.replace('/graphql', '');
      expect((await fetch(`${base}/health`)).status).toBe(200);

      const admin = await deps.bearer('admin-1', ['customer', 'admin']);
      const res = await postGraphQL(url, '{ warehouses { code city } }', undefined, {
        authorization: admin,
        'x-request-id': 'trace-abc-123',
      });
      expect(res).toEqual({
        data: { warehouses: [{ code: 'AMS-1', city: 'Amsterdam' }] },
        extensions: { cost: { requestedQueryCost: expect.any(Number), actualQueryCost: 1 } },
      });
      expect(seenRequestIds).toContain('trace-abc-123');

      const anonymous = await postGraphQL(url, '{ warehouses { code } }');
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify(anonymous)).not.toMatch(/stacktrace|\bat .*\.ts:/);
    } finally {
      expect(await stop()).toBe(0);
    }
  });

  it('refuses a bad port with a clear message and exit code 1', async () => {
    await expect(startRouterProcess(['--supergraph', supergraphFile, '--port', 'abc'], deps.config.JWT_PUBLIC_KEY!)).rejects.toThrow(/exited with 1[\s\S]*--port/);
  });
});
