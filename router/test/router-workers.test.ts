import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { serveTestSubgraph, testDeps, waitFor, type TestDeps } from '../../platform/testing';
import { startProcess, type ServiceProcess } from '../../platform/test-processes';
import { inventorySubgraph, openInventoryStore, typeDefs } from '../../subgraphs/inventory/subgraph';

jest.setTimeout(90_000);

interface Answer {
  status: number;
  worker: string | undefined;
  body: string;
}

/** One request on a connection of its own, so the cluster's round-robin picks a worker for each. */
function request(url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', agent: false, headers: init.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, worker: res.headers['x-router-worker'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Pids of the workers the primary said it started, by worker number. */
function workerPids(output: string): Map<string, number> {
  const pids = new Map<string, number>();
  for (const line of output.split('\n')) {
    if (!line.includes('"msg":"router worker started"')) continue;
    const entry = JSON.parse(line) as { worker: number; pid: number };
    pids.set(String(entry.worker), entry.pid);
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The sum of a metric's samples whose labels include `labels`. */
function metricSum(text: string, name: string, labels: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('the router with ROUTER_WORKERS=2', () => {
  let deps: TestDeps;
  let subgraph: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let supergraphFile: string;
  let router: ServiceProcess;
  let admin: string;

  beforeAll(async () => {
    deps = await testDeps('pglite');
    const store = await openInventoryStore(deps);
    await store.addWarehouses([{ id: 'wh-1', code: 'AMS-1', name: 'Amsterdam', city: 'Amsterdam', country: 'NL' }]);
    subgraph = await serveTestSubgraph(inventorySubgraph(store), deps);
    const composed = composeServices([{ name: 'inventory', url: subgraph.url, typeDefs }]);
    expect(composed.errors).toBeUndefined();
    supergraphFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'supergraph-')), 'supergraph.graphql');
    fs.writeFileSync(supergraphFile, composed.supergraphSdl!);
    admin = await deps.bearer('admin-1', ['customer', 'admin']);
    router = await startProcess('router/main.ts', ['--supergraph', supergraphFile, '--port', '0'], {
      JWT_PUBLIC_KEY: deps.config.JWT_PUBLIC_KEY!,
      ROUTER_WORKERS: '2',
      SHUTDOWN_GRACE_MS: '2000',
    });
    await waitFor('both workers to listen', () => router.output().includes('all router workers listening'), 60_000);
  });

  afterAll(async () => {
    await router?.kill();
    await subgraph.stop();
    await deps.release();
  });

  const query = () =>
    request(router.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: admin },
      body: JSON.stringify({ query: '{ warehouses { code } }' }),
    });

  it('serves from both workers on one port, and /metrics on any worker counts the requests of both', async () => {
    const metricsUrl = router.url.replace('/graphql', '/metrics');
    const before = metricSum((await request(metricsUrl)).body, 'shop_graphql_requests_total', 'service="router"');
    const answers = await Promise.all(Array.from({ length: 40 }, () => query()));
    for (const answer of answers) expect(JSON.parse(answer.body)).toEqual({ data: { warehouses: [{ code: 'AMS-1' }] }, extensions: expect.anything() });
    const byWorker = new Map<string, number>();
    for (const { worker } of answers) byWorker.set(worker!, (byWorker.get(worker!) ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual(['1', '2']);

    // Whichever worker answers /metrics, it reports all 40, not its own share.
    for (let i = 0; i < 4; i++) {
      const metrics = await request(metricsUrl);
      expect(metrics.status).toBe(200);
      expect(metricSum(metrics.body, 'shop_graphql_requests_total', 'service="router"') - before).toBe(40);
    }
  });

  it('keeps serving when a worker is killed, starts another, and SIGTERM stops every worker', async () => {
    const pids = workerPids(router.output());
    expect(pids.size).toBe(2);
    process.kill(pids.get('1')!, 'SIGKILL');
    await waitFor('worker 1 to be gone', () => !alive(pids.get('1')!));

    // Served throughout, by worker 2 until a third one listens.
    const seen = new Set<string>();
    await waitFor(
      'a new worker to serve',
      async () => {
        const answers = await Promise.all(Array.from({ length: 4 }, () => query()));
        for (const answer of answers) {
          expect(answer.status).toBe(200);
          seen.add(answer.worker!);
        }
        return seen.has('3');
      },
      60_000,
    );
    expect(seen.has('1')).toBe(false);
    expect(router.output()).toContain('router worker exited; starting another');

    const all = [...workerPids(router.output()).values()];
    expect(all).toHaveLength(3);
    expect(await router.stop()).toBe(0);
    for (const pid of all) expect(alive(pid)).toBe(false);
    expect(router.output().match(/"msg":"stopped"/g)).toHaveLength(2);
  });
});
