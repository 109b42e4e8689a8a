import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { postGraphQL, serveTestSubgraph, testDeps, type TestDeps } from '../../platform/testing';
import { inventorySubgraph, openInventoryStore, typeDefs } from '../../subgraphs/inventory/subgraph';

const ROOT = path.resolve(__dirname, '../..');

/** Starts `npm run router`'s program and resolves with its URL once it logs that it listens. */
function startRouterProcess(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [require.resolve('tsx/cli'), 'router/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '', LOG_LEVEL: 'info', LOG_PRETTY: 'false', NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`router did not start:\n${output}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"([^"]+)".*"msg":"listening"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]! });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`router exited with ${code}:\n${output}`)));
  });
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
    const { child, url } = await startRouterProcess(['--supergraph', supergraphFile, '--port', '0']);
    try {
      const base = url.replace('/graphql', '');
      expect((await fetch(`${base}/health`)).status).toBe(200);

      const admin = await deps.bearer('admin-1', ['customer', 'admin']);
      const res = await postGraphQL(url, '{ warehouses { code city } }', undefined, {
        authorization: admin,
        'x-request-id': 'trace-abc-123',
      });
      expect(res).toEqual({ data: { warehouses: [{ code: 'AMS-1', city: 'Amsterdam' }] } });
      expect(seenRequestIds).toContain('trace-abc-123');

      const anonymous = await postGraphQL(url, '{ warehouses { code } }');
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify(anonymous)).not.toMatch(/stacktrace|\bat .*\.ts:/);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('refuses a bad port with a clear message and exit code 1', async () => {
    await expect(startRouterProcess(['--supergraph', supergraphFile, '--port', 'abc'])).rejects.toThrow(/exited with 1[\s\S]*--port/);
  });
});
