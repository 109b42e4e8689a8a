/**
 * What the edge's guard (limits, auth filtering, cost) costs per operation, on the
 * README's query over all six subgraphs:
 *   1. the guard alone, in microseconds: the first time an operation text is seen (measure,
 *      filter and price it) and repeated (its work cached);
 *   2. the router's throughput and latency on that query with the guard on and off, and stock
 *      `@apollo/gateway` + `@apollo/server` beside them, in one run, in turn over the same
 *      subgraphs, after checking all three return the same data.
 *
 *   npx tsx bench/edge.ts [--seconds 8] [--connections 16] [--rounds 2]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { getOperationAST, parse, type DocumentNode } from 'graphql';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { startTestShop } from '../embedded/testing';
import { composeSupergraph } from '../schema/compose';
import { CostCalculator } from '../router/cost';
import { Edge } from '../router/edge';
import { DEFAULT_OPERATION_LIMITS } from '../router/operation-limits';
import { plannerSupergraph, startRouter } from '../router/router';
import type { Viewer } from '../platform/auth';
import { SHOP_QUERY } from './shop-query';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);

const log = (line: string) => process.stderr.write(`${line}\n`);

async function apiSchema(supergraphSdl: string) {
  const gateway = new ApolloGateway({ supergraphSdl: plannerSupergraph(supergraphSdl) });
  const { schema } = await gateway.load();
  await gateway.stop();
  return schema;
}

/** Microseconds per call of `work`, over `iterations` calls after as many warm-up calls. */
function perCall(iterations: number, work: (i: number) => void): number {
  for (let i = 0; i < iterations; i++) work(i);
  const started = performance.now();
  for (let i = iterations; i < 2 * iterations; i++) work(i);
  return ((performance.now() - started) * 1000) / iterations;
}

async function guardAlone(supergraphSdl: string) {
  const schema = await apiSchema(supergraphSdl);
  const cost = new CostCalculator(supergraphSdl);
  const signedIn: Viewer = { kind: 'customer', customerId: 'c1', scopes: ['customer'] };
  const anonymous: Viewer = { kind: 'anonymous' };
  const input = (document: DocumentNode, queryHash: string, viewer: Viewer) => ({
    document,
    operation: getOperationAST(document) ?? undefined,
    queryHash,
    operationName: null,
    schema,
    viewer,
    variables: {},
  });
  const edge = new Edge({ supergraphSdl, limits: DEFAULT_OPERATION_LIMITS, maxCost: 5000, cost, cacheSize: 100_000 });
  // First time: every call brings a text the edge has not seen (its own document and hash).
  const count = 2000;
  const documents = Array.from({ length: 2 * count }, () => parse(SHOP_QUERY));
  const first = perCall(count, (i) => edge.check(input(documents[i]!, `signed-in-${i}`, signedIn)));
  const firstAnonymous = perCall(count, (i) => edge.check(input(documents[i]!, `anonymous-${i}`, anonymous)));
  // Repeated: the same text from the same kind of caller.
  const repeated = perCall(50_000, () => edge.check(input(documents[0]!, 'signed-in-0', signedIn)));
  return { first, repeated, firstAnonymous };
}

interface LoadResult {
  requests: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
}

async function load(url: string, token: string): Promise<LoadResult> {
  const body = JSON.stringify({ query: SHOP_QUERY });
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
        const json = (await response.json()) as { errors?: unknown[] };
        latencies.push(performance.now() - started);
        if (json.errors?.length) errors += 1;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { requests: latencies.length, errors, perSecond: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99) };
}

/**
 * Stock `@apollo/gateway` under stock `@apollo/server` over the same subgraphs, forwarding the
 * caller's token: what the router is measured against. It is given the supergraph the router
 * plans from (authorization marks lifted; it enforces none of them).
 */
async function startStockGateway(supergraphSdl: string, subgraphUrls: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const gateway = new ApolloGateway({
    supergraphSdl: plannerSupergraph(supergraphSdl),
    buildService: ({ name, url }) =>
      new RemoteGraphQLDataSource<{ authorization?: string }>({
        url: subgraphUrls[name] ?? url!,
        willSendRequest({ request, context }) {
          if (context.authorization) request.http?.headers.set('authorization', context.authorization);
        },
      }),
  });
  const server = new ApolloServer<{ authorization?: string }>({ gateway });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) }),
  });
  return { url, stop: () => server.stop() };
}

type Variant = 'router' | 'router, guard off' | 'stock @apollo/gateway';
const VARIANTS: Variant[] = ['router', 'router, guard off', 'stock @apollo/gateway'];

async function main() {
  const supergraphSdl = composeSupergraph();
  log('guard alone…');
  const alone = await guardAlone(supergraphSdl);

  log('starting the shop (small demo, embedded stores)…');
  const shop = await startTestShop();
  const customer = shop.data.customers.find((c) => !c.admin && shop.data.orders.some((o) => o.customerId === c.id))!;
  const token = await shop.login(customer.email);
  const subgraphUrls = Object.fromEntries([...shop.subgraphs].map(([name, { service }]) => [name, service.url]));
  const common = {
    supergraphSdl,
    subgraphUrls,
    host: '127.0.0.1',
    port: 0,
    logger: shop.deps.logger,
    tokens: shop.deps.tokens,
    maxBodyBytes: 1024 * 1024,
    graceMs: 500,
  };
  const servers: Record<Variant, { url: string; stop(): Promise<void> }> = {
    router: await startRouter({ ...common }),
    'router, guard off': await startRouter({ ...common, guard: false }),
    'stock @apollo/gateway': await startStockGateway(supergraphSdl, subgraphUrls),
  };
  const results = Object.fromEntries(VARIANTS.map((v) => [v, [] as LoadResult[]])) as Record<Variant, LoadResult[]>;
  let sameAnswer = false;
  try {
    // The same data from all three before anything is timed (the router adds extensions.cost).
    const answers = await Promise.all(
      VARIANTS.map(async (v) => {
        const response = await fetch(servers[v].url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: SHOP_QUERY }),
        });
        return JSON.stringify(((await response.json()) as { data?: unknown }).data ?? null);
      }),
    );
    sameAnswer = answers.every((answer) => answer === answers[0]) && answers[0] !== 'null';
    if (!sameAnswer) throw new Error(`the variants answer differently:\n${answers.join('\n')}`);
    for (const v of VARIANTS) {
      log(`warm-up, ${v}…`);
      await load(servers[v].url, token);
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const v of VARIANTS) {
        log(`round ${round}, ${v}…`);
        results[v].push(await load(servers[v].url, token));
      }
    }
  } finally {
    for (const v of VARIANTS) await servers[v].stop();
    await shop.close();
  }

  const summary = (list: LoadResult[]) => ({
    perSecond: list.reduce((n, r) => n + r.perSecond, 0) / list.length,
    p50: list.reduce((n, r) => n + r.p50, 0) / list.length,
    p99: list.reduce((n, r) => n + r.p99, 0) / list.length,
    errors: list.reduce((n, r) => n + r.errors, 0),
  });
  const figures = Object.fromEntries(VARIANTS.map((v) => [v, summary(results[v])])) as Record<Variant, ReturnType<typeof summary>>;
  const stock = figures['stock @apollo/gateway'];
  const lines = [
    `Node ${process.version}, ${SECONDS} s per measurement, ${CONNECTIONS} connections, ${ROUNDS} rounds (in turn)`,
    '',
    'guard alone, the README query over six subgraphs:',
    `  first time (measure, filter, price), signed in   ${alone.first.toFixed(1)} µs`,
    `  first time, anonymous (me removed)               ${alone.firstAnonymous.toFixed(1)} µs`,
    `  repeated (cached per text and caller)            ${alone.repeated.toFixed(2)} µs`,
    '',
    `same query, signed in, same data from every variant: ${sameAnswer ? 'yes' : 'no'}`,
    '  variant                | req/s  | p50 ms | p99 ms | errors | req/s vs stock',
    ...VARIANTS.map((v) => {
      const f = figures[v];
      return `  ${v.padEnd(22)} | ${f.perSecond.toFixed(0).padStart(6)} | ${f.p50.toFixed(1).padStart(6)} | ${f.p99.toFixed(1).padStart(6)} | ${String(f.errors).padStart(6)} | ${(f.perSecond / stock.perSecond).toFixed(3)}`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
