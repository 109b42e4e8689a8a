/**
 * Checkout throughput: many customers placing orders at once through the router, each
 * filling a cart and placing it in a loop with a fresh idempotency key (`tok_visa`), and
 * following the order over `orderUpdated` until it is CONFIRMED. Prints confirmed orders a
 * second, p50/p99 from `placeOrder` sent to CONFIRMED seen, and the CPU the shop spent (sum
 * of utime+stime from /proc/<pid>/stat over each process tree), first for the idle shop
 * (just started, then settled) and then under load, measured after a warm-up under the same
 * load (the JIT compiles the hot paths of every process during its first seconds); then
 * checks that nothing was lost or oversold, warm-up orders included, and how fast the
 * machine ran a fixed piece of work before and after the run.
 *
 *   npm run bench:checkout                                   # both targets
 *   npx tsx bench/checkout.ts --target topology --customers 64 --warmup-seconds 30 --seconds 30
 *   npx tsx bench/checkout.ts --target topology --statements --cpu-prof /tmp/profiles
 *
 * Targets: `topology`, the production topology on this machine (embedded/topology.ts: a
 * PostgreSQL and a Redis server of its own, every subgraph and the router in a process of
 * its own), whose stores are read at the end for every invariant of the fault tests; and
 * `embedded`, the one-process shop (`embedded/main.ts`, PGlite, in-process events) in a
 * child process, reconciled through the graph (every order confirmed with an authorized
 * payment of its total, availability down by exactly the units ordered). Loopback only.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import postgres from 'postgres';
import { startProcess, type ServiceProcess } from '../platform/test-processes';
import { freePort } from '../platform/test-servers';
import { sleep } from '../platform/testing';
import { envPrefix, SUBGRAPHS } from '../schema/subgraphs';
import { generateDemoShop, SMALL_SIZE } from '../platform/demo-shop';
import { DEMO_PASSWORD, isTroubleLine, startShopTopology, type ShopTopology } from '../embedded/topology';
import { RouterClient, type KeyRecord, type PlacedOrder, type Shopper } from '../embedded/test/fault-load';

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', default: 'topology,embedded' },
    customers: { type: 'string', default: '96' },
    seconds: { type: 'string', default: '20' },
    'warmup-seconds': { type: 'string', default: '30' },
    'max-orders': { type: 'string', default: '20000' },
    'idle-seconds': { type: 'string', default: '20' },
    'router-workers': { type: 'string', default: '1' },
    'node-env': { type: 'string', default: 'production' },
    'cpu-prof': { type: 'string' },
    statements: { type: 'boolean', default: false },
  },
  strict: true,
});
const CUSTOMERS = Number(args.customers);
const SECONDS = Number(args.seconds);
const WARMUP_SECONDS = Number(args['warmup-seconds']);
const MAX_ORDERS = Number(args['max-orders']);
const IDLE_SECONDS = Number(args['idle-seconds']);
/** The idle shop is measured from this long after it answers. */
const IDLE_AFTER_START_SECONDS = 3;
/** The measured window is also reported in slices this long, to show how steady it was. */
const SLICE_SECONDS = 5;
/** Where every process of the shop writes its CPU profile when it exits, a folder per process. */
const PROFILE_DIR = args['cpu-prof'] ? path.resolve(args['cpu-prof']) : undefined;
const profiling = (name: string): string[] => (PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.join(PROFILE_DIR, name)}`] : []);
/** Units each product is counted to before the run, so orders confirm rather than run out. */
const STOCK = 1_000_000;
const ADDRESS = { line1: '1 Canal Street', city: 'Amsterdam', postalCode: '1012 AB', country: 'NL' };
const TERMINAL = new Set(['CONFIRMED', 'PAYMENT_FAILED', 'CANCELLED', 'EXPIRED', 'OUT_OF_STOCK']);
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const log = (line: string) => process.stderr.write(`${line}\n`);

// --- CPU from /proc -------------------------------------------------------------------

interface ProcEntry {
  ppid: number;
  ticks: number;
  cmdline: string;
  /** The command name (`comm`), which kernel threads, having no command line, go by. */
  comm: string;
}

function procTable(): Map<number, ProcEntry> {
  const table = new Map<number, ProcEntry>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces: fields start after the last `)`.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      table.set(Number(name), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), cmdline, comm });
    } catch {
      // Gone meanwhile.
    }
  }
  return table;
}

/** A named set of processes: the trees under its root pids. */
interface CpuGroup {
  name: string;
  roots: (table: Map<number, ProcEntry>) => number[];
}

/** What one process had spent when sampled: CPU ticks, and write system calls (NaN where /proc/<pid>/io cannot be read). */
interface ProcSample {
  ticks: number;
  writes: number;
}

function writeCalls(pid: number): number {
  try {
    const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
    return Number(/^syscw: (\d+)$/m.exec(io)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Every process of every group's trees, so processes that come and go during a run are counted from when they were seen. */
function sampleGroups(groups: CpuGroup[], table = procTable()): Map<string, Map<number, ProcSample>> {
  const children = new Map<number, number[]>();
  for (const [pid, entry] of table) children.set(entry.ppid, [...(children.get(entry.ppid) ?? []), pid]);
  const sample = new Map<string, Map<number, ProcSample>>();
  for (const group of groups) {
    const seen = new Map<number, ProcSample>();
    const queue = group.roots(table);
    while (queue.length) {
      const pid = queue.shift()!;
      if (seen.has(pid) || !table.has(pid)) continue;
      seen.set(pid, { ticks: table.get(pid)!.ticks, writes: writeCalls(pid) });
      queue.push(...(children.get(pid) ?? []));
    }
    sample.set(group.name, seen);
  }
  return sample;
}

type Sample = ReturnType<typeof sampleGroups>;

/** How much of `measure` each group spent between two samples. */
function spentBetween(before: Sample, after: Sample, measure: keyof ProcSample): Map<string, number> {
  const spent = new Map<string, number>();
  for (const [name, processes] of after) {
    let total = 0;
    for (const [pid, now] of processes) total += now[measure] - (before.get(name)?.get(pid)?.[measure] ?? 0);
    spent.set(name, total);
  }
  return spent;
}

/** CPU seconds per group between two samples. */
function cpuBetween(before: Sample, after: Sample): Map<string, number> {
  return new Map([...spentBetween(before, after, 'ticks')].map(([name, ticks]) => [name, ticks / CLOCK_TICKS]));
}

/**
 * The whole machine at one moment: the cores' time by kind from the first line of
 * `/proc/stat`, and what each kernel thread (a child of kthreadd, pid 2) has spent.
 */
interface MachineSample {
  /** Ticks of all cores: in processes (user, nice, system), serving interrupts (irq, softirq), taken by the hypervisor (steal), idle (idle, iowait). */
  cores: { processes: number; interrupts: number; steal: number; idle: number };
  kernelThreads: Map<number, { comm: string; ticks: number }>;
}

function sampleMachine(table: Map<number, ProcEntry>): MachineSample {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fs
    .readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number) as number[];
  const kernelThreads = new Map<number, { comm: string; ticks: number }>();
  for (const [pid, entry] of table) if (entry.ppid === 2) kernelThreads.set(pid, { comm: entry.comm, ticks: entry.ticks });
  return {
    cores: { processes: user! + nice! + system!, interrupts: irq! + softirq!, steal: steal ?? 0, idle: idle! + iowait! },
    kernelThreads,
  };
}

/**
 * Where the cores went between two samples, as percentages of one core: busy (of it, serving
 * interrupts and taken by the hypervisor) and idle, then the shop's processes (`shopSeconds`),
 * the load generator and the kernel's own threads (the busiest kinds named). Says whether the
 * shop had the machine to itself. An interrupt served while a process runs counts in that
 * process's time as well, so the parts can add up to more than the busy time.
 */
function machineLine(before: MachineSample, after: MachineSample, shopSeconds: number, loadSeconds: number): string {
  const cores = Object.fromEntries(
    Object.entries(after.cores).map(([kind, ticks]) => [kind, ticks - before.cores[kind as keyof MachineSample['cores']]]),
  ) as MachineSample['cores'];
  // Every core's ticks together are the time between the samples, once per core.
  const seconds = Object.values(cores).reduce((a, b) => a + b, 0) / CLOCK_TICKS / os.cpus().length;
  const pct = (ticks: number) => `${((100 * ticks) / CLOCK_TICKS / seconds).toFixed(1)}%`;
  const byThread = new Map<string, number>();
  for (const [pid, { comm, ticks }] of after.kernelThreads) {
    // Threads of one kind (kworker/0:1, kworker/1:2H...) together, under the name before the
    // slash; one started meanwhile spent all it has in the window.
    const kind = comm.split('/')[0]!;
    byThread.set(kind, (byThread.get(kind) ?? 0) + ticks - (before.kernelThreads.get(pid)?.ticks ?? 0));
  }
  const kernel = [...byThread.values()].reduce((a, b) => a + b, 0);
  const busiest = [...byThread].sort((a, b) => b[1] - a[1]).slice(0, 2);
  return (
    `cores: ${pct(cores.processes + cores.interrupts + cores.steal)} of ${os.cpus().length * 100}% busy (interrupts ${pct(cores.interrupts)}, ` +
    `steal ${pct(cores.steal)}), idle ${pct(cores.idle)}; the shop ${pct(shopSeconds * CLOCK_TICKS)}, the load generator ` +
    `${pct(loadSeconds * CLOCK_TICKS)}, kernel threads ${pct(kernel)} (${busiest.map(([name, ticks]) => `${name} ${pct(ticks)}`).join(', ')})`
  );
}

const byCmdline = (match: (cmdline: string) => boolean) => (table: Map<number, ProcEntry>) =>
  [...table].filter(([, e]) => match(e.cmdline)).map(([pid]) => pid);

// --- The machine's speed at the time -----------------------------------------------------

/**
 * Milliseconds a fixed piece of work takes in this process, best of three: JSON written and
 * read, a SHA-256 and a Map write, 200,000 times (the kinds of work the shop's processes do).
 * Shared cores run the same code at different speeds from hour to hour; timed just before
 * the shop starts and just after it stops, this says how fast the machine was around a run,
 * so that figures from different runs can be told apart from the machine's drift.
 */
function referenceWorkMs(): number {
  let best = Infinity;
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = performance.now();
    const seen = new Map<number, string>();
    for (let i = 0; i < 200_000; i++) {
      const text = JSON.stringify({ i, lines: [i, i + 1], name: `item-${i}` });
      seen.set(i % 1000, createHash('sha256').update(text).digest('hex'));
      JSON.parse(text);
    }
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

// --- The shop under test -------------------------------------------------------------

interface Target {
  name: string;
  url: string;
  groups: CpuGroup[];
  productIds: string[];
  /** Every product and warehouse with stock. */
  stock: { productId: string; warehouseId: string }[];
  login(email: string): Promise<Shopper>;
  register(email: string): Promise<Shopper>;
  /** Problems with the shop's records after the run; empty when everything reconciles. */
  check(run: RunRecord, admin: Shopper): Promise<string[]>;
  /** What PostgreSQL ran, with `--statements` on the topology. */
  statements?: StatementCounter;
  /** The warnings and errors each process logged so far, by message, where the target keeps its processes' logs. */
  troubles?(): Map<string, Map<string, number>>;
  close(): Promise<void>;
}

/** One statement text of one database, as pg_stat_statements counts it. */
interface StatementStat {
  database: string;
  calls: number;
  execMs: number;
  /** Times PostgreSQL planned it, and the milliseconds that took (`pg_stat_statements.track_planning`). */
  plans: number;
  planMs: number;
  query: string;
}

interface StatementCounter {
  reset(): Promise<void>;
  read(): Promise<StatementStat[]>;
  close(): Promise<void>;
}

/** The server's settings that make it count statements (`pg_stat_statements`, top-level statements only). */
const COUNTING_STATEMENTS = {
  shared_preload_libraries: 'pg_stat_statements',
  'pg_stat_statements.track': 'top',
  'pg_stat_statements.track_planning': 'on',
};

/** pg_stat_statements of a server started with `COUNTING_STATEMENTS`, over the shop's databases. */
async function statementCounter(url: string): Promise<StatementCounter> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql`create extension if not exists pg_stat_statements`;
  return {
    reset: async () => {
      await sql`select pg_stat_statements_reset()`;
    },
    read: async () => {
      const rows = await sql<{ database: string; calls: number; exec_ms: number; plans: number; plan_ms: number; query: string }[]>`
        select d.datname as database, s.calls::float8 as calls, s.total_exec_time as exec_ms,
          s.plans::float8 as plans, s.total_plan_time as plan_ms, s.query
        from pg_stat_statements s join pg_database d on d.oid = s.dbid
        where starts_with(d.datname, 'shop_')`;
      return rows.map((row) => ({
        database: row.database.replace(/^shop_/, '').replace(/_/g, '-'),
        calls: row.calls,
        execMs: row.exec_ms,
        plans: row.plans,
        planMs: row.plan_ms,
        query: row.query,
      }));
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/** A statement by its `-- name:` tag, or by the start of its text. */
function statementName(query: string): string {
  return /--\s*name:\s*([\w-]+)/.exec(query)?.[1] ?? query.replace(/\s+/g, ' ').trim().slice(0, 60);
}

/** Statements per order by database, PostgreSQL's time planning and executing them, and the statements that took most of it. */
function statementLines(stats: StatementStat[], orders: number, top = 12): string[] {
  const per = (n: number) => n / Math.max(orders, 1);
  const byDatabase = new Map<string, number>();
  for (const stat of stats) byDatabase.set(stat.database, (byDatabase.get(stat.database) ?? 0) + stat.calls);
  const calls = stats.reduce((sum, stat) => sum + stat.calls, 0);
  const execMs = stats.reduce((sum, stat) => sum + stat.execMs, 0);
  const plans = stats.reduce((sum, stat) => sum + stat.plans, 0);
  const planMs = stats.reduce((sum, stat) => sum + stat.planMs, 0);
  const databases = [...byDatabase].filter(([, n]) => per(n) >= 0.05).sort((a, b) => b[1] - a[1]);
  return [
    // A COMMIT is sent as a statement the connection prepared once; PostgreSQL does not count it again.
    `statements per order: ${databases.map(([name, n]) => `${name} ${per(n).toFixed(1)}`).join(', ')}; ${per(calls).toFixed(1)} in all, ` +
      `BEGIN included, COMMIT not; PostgreSQL executing them ${per(execMs).toFixed(2)} ms per order, ` +
      `planning ${per(plans).toFixed(1)} of them ${per(planMs).toFixed(2)} ms per order`,
    ...[...stats]
      .sort((a, b) => b.execMs - a.execMs)
      .slice(0, top)
      .map(
        (stat) =>
          `  ${per(stat.execMs).toFixed(3)} ms, ${per(stat.calls).toFixed(2)} per order, planned ${per(stat.plans).toFixed(2)} ` +
          `(${per(stat.planMs).toFixed(3)} ms): ${statementName(stat.query)} (${stat.database})`,
      ),
  ];
}

interface RunRecord {
  keys: Map<string, KeyRecord>;
  orders: Map<string, PlacedOrder & { productId: string; total?: number }>;
  stockBaseline?: Map<string, number>;
  availableBefore: Map<string, number>;
}

async function topologyTarget(): Promise<Target & { topology: ShopTopology }> {
  const workers = args['router-workers']!;
  // Every process runs as deployed (the image's NODE_ENV=production): graphql-js, for one,
  // checks every failed `instanceof` for a second copy of itself outside production.
  const nodeEnv = { NODE_ENV: args['node-env']! };
  const topology = await startShopTopology({
    name: 'bench-checkout',
    env: nodeEnv,
    routerEnv: { ...nodeEnv, ROUTER_WORKERS: workers },
    nodeArgs: profiling,
    ...(args.statements ? { postgresSettings: COUNTING_STATEMENTS } : {}),
  });
  const statements = args.statements
    ? await statementCounter(topology.pg.url).catch(async (error: unknown) => {
        await topology.close();
        throw error;
      })
    : undefined;
  const pgPort = topology.pg.port;
  const redisPort = topology.redis.port;
  const service = (name: string) => (table: Map<number, ProcEntry>) => {
    void table;
    const pid = topology.allProcesses().find((s) => s.name === name)?.pid;
    return pid ? [pid] : [];
  };
  return {
    topology,
    name: 'PostgreSQL + Redis, a process per subgraph',
    url: topology.router!.url,
    groups: [
      { name: 'router', roots: service('router') },
      ...SUBGRAPHS.map(({ name }) => ({ name, roots: service(name) })),
      { name: 'postgres', roots: byCmdline((c) => c.includes('postgres') && c.includes(`\0-p\0${pgPort}\0`)) },
      { name: 'redis', roots: byCmdline((c) => c.startsWith('redis-server') && c.includes(`:${redisPort}`)) },
    ],
    productIds: topology.shop.products.map((p) => p.id),
    stock: topology.shop.stock.map((s) => ({ productId: s.productId, warehouseId: s.warehouseId })),
    login: (email) => topology.login(email),
    register: (email) => topology.register(email, 'Bench Customer'),
    check: async (run) => {
      const open = await topology.settle();
      return [...open.map((o) => `not settled: ${o}`), ...(await topology.brokenInvariants(run))];
    },
    ...(statements ? { statements } : {}),
    troubles: () => new Map(topology.allProcesses().map((service) => [service.name, loggedTroubles(service.output())])),
    close: async () => {
      await statements?.close();
      await topology.close();
    },
  };
}

async function embeddedTarget(): Promise<Target> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-embedded-'));
  const env: Record<string, string> = { DATA_DIR: dataDir, DEMO_SIZE: 'small', SEED_DEMO: 'true', DEMO_PASSWORD, NODE_ENV: 'test', SHUTDOWN_GRACE_MS: '2000' };
  env.ROUTER_PORT = String(await freePort());
  for (const { name } of SUBGRAPHS) env[`${envPrefix(name)}_PORT`] = String(await freePort());
  const shop: ServiceProcess = await startProcess('embedded/main.ts', [], env, 180_000, profiling('embedded'));
  while (!shop.output().includes('The shop is open')) await sleep(100);
  const url = `http://127.0.0.1:${env.ROUTER_PORT}/graphql`;
  const client = new RouterClient(url);
  // The shop seeds the small demo shop, generated the same way every time.
  const demo = generateDemoShop(SMALL_SIZE);
  const session = async (operation: 'login' | 'register', input: Record<string, string>) => {
    const res = await client.send(operation, `mutation ($input: ${operation === 'login' ? 'LoginInput' : 'RegisterInput'}!) { ${operation}(input: $input) { accessToken customer { id } } }`, { input });
    const answer = res.data?.[operation];
    if (!answer) throw new Error(`${input.email} cannot ${operation}: ${res.codes.join(', ')}`);
    return { email: input.email!, token: answer.accessToken as string, customerId: answer.customer.id as string };
  };
  return {
    name: 'embedded (one process, PGlite, in-process events)',
    url,
    groups: [{ name: 'shop', roots: () => (shop.child.pid ? [shop.child.pid] : []) }],
    productIds: demo.products.map((p) => p.id),
    stock: demo.stock.map((s) => ({ productId: s.productId, warehouseId: s.warehouseId })),
    login: (email) => session('login', { email, password: DEMO_PASSWORD }),
    register: (email) => session('register', { email, password: DEMO_PASSWORD, name: 'Bench Customer' }),
    check: (run, admin) => reconcileThroughGraph(client, run, admin),
    close: async () => {
      await shop.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Stock levels per product and warehouse are not readable from outside the one-process shop: reconcile what the graph says. */
async function reconcileThroughGraph(client: RouterClient, run: RunRecord, admin: Shopper): Promise<string[]> {
  const problems: string[] = [];
  const orders = [...run.orders.values()];
  const units = new Map<string, number>();
  for (let i = 0; i < orders.length; i += 20) {
    const batch = orders.slice(i, i + 20);
    const query = `{ ${batch.map((o, n) => `o${n}: order(id: "${o.id}") { status total { amount } payment { status amount { amount } } }`).join(' ')} }`;
    const res = await client.send('order', query, {}, admin.token);
    batch.forEach((o, n) => {
      const seen = res.data?.[`o${n}`];
      if (!seen) return void problems.push(`order ${o.id} cannot be read: ${res.codes.join(', ')}`);
      if (seen.status !== 'CONFIRMED') problems.push(`order ${o.id} is ${seen.status}`);
      else if (seen.payment?.status !== 'AUTHORIZED' || seen.payment.amount.amount !== seen.total.amount) {
        problems.push(`order ${o.id}: payment ${seen.payment?.status} of ${seen.payment?.amount?.amount} for ${seen.total.amount}`);
      } else units.set(o.productId, (units.get(o.productId) ?? 0) + 1);
    });
  }
  const after = await availability(client, [...run.availableBefore.keys()]);
  for (const [productId, before] of run.availableBefore) {
    const sold = units.get(productId) ?? 0;
    if (after.get(productId) !== before - sold) problems.push(`${productId}: available ${after.get(productId)}, was ${before} less ${sold} ordered`);
  }
  return problems;
}

async function availability(client: RouterClient, productIds: string[]): Promise<Map<string, number>> {
  const available = new Map<string, number>();
  for (let i = 0; i < productIds.length; i += 20) {
    const batch = productIds.slice(i, i + 20);
    const res = await client.send('order', `{ ${batch.map((id, n) => `p${n}: product(id: "${id}") { availableQuantity }`).join(' ')} }`, {});
    batch.forEach((id, n) => available.set(id, res.data?.[`p${n}`]?.availableQuantity));
  }
  return available;
}

// --- The load --------------------------------------------------------------------------

const ADD = `mutation ($input: CartLineInput!) { addToCart(input: $input) { id } }`;
const PLACE = `mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { id status total { amount } } }`;
const WATCH = `subscription ($orderId: ID!) { orderUpdated(orderId: $orderId) { id status } }`;

/** Resolves the first terminal status `orderUpdated` says for the order (its first payload is the order as it is). */
function confirmation(ws: Client, orderId: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (status: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      resolve(status);
    };
    const timer = setTimeout(() => finish('TIMED_OUT'), timeoutMs);
    const unsubscribe = ws.subscribe<{ orderUpdated: { status: string } }>(
      { query: WATCH, variables: { orderId } },
      {
        next: (result) => {
          const status = result.data?.orderUpdated?.status;
          if (status && TERMINAL.has(status)) finish(status);
          else if (result.errors) finish(`ERROR ${result.errors[0]?.message}`);
        },
        error: (error) => finish(`ERROR ${String((error as Error).message ?? error)}`),
        complete: () => finish('COMPLETED_WITHOUT_STATUS'),
      },
    );
  });
}

interface LoadResult {
  seconds: number;
  placed: number;
  confirmed: number;
  latenciesMs: number[];
  /** Orders confirmed in each whole `SLICE_SECONDS` of the measured window, in order. */
  slices: number[];
  outcomes: Record<string, number>;
  errors: Record<string, number>;
}

/**
 * Shoppers check out for the warm-up, then `measuring` is called and they go on for the
 * measured seconds. Only orders placed after that count; orders of the warm-up still in
 * flight spend their CPU in the measured window, which can only lower the figure.
 */
async function runLoad(target: Target, customers: Shopper[], run: RunRecord, measuring: () => void): Promise<LoadResult> {
  const client = new RouterClient(target.url);
  const wsUrl = target.url.replace(/^http/, 'ws');
  const deadline = Date.now() + (WARMUP_SECONDS + SECONDS) * 1000;
  const latencies: number[] = [];
  const slices: number[] = [];
  const outcomes: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let placed = 0;
  let placedInAll = 0;
  let lastConfirmedAt = 0;
  let started = 0;
  const warmup = setTimeout(() => {
    started = Date.now();
    measuring();
  }, WARMUP_SECONDS * 1000);
  const count = (into: Record<string, number>, key: string) => {
    if (started) into[key] = (into[key] ?? 0) + 1;
  };
  const shopper = async (customer: Shopper, index: number) => {
    const ws = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${customer.token}` }, lazy: false, retryAttempts: 0 });
    let n = 0;
    try {
      while (Date.now() < deadline && placedInAll < MAX_ORDERS) {
        const productId = target.productIds[(index * 7 + n++) % target.productIds.length]!;
        const added = await client.send('addToCart', ADD, { input: { productId, quantity: 1 } }, customer.token);
        if (added.codes.length) {
          for (const code of added.codes) count(errors, `addToCart ${code}`);
          await sleep(100);
          continue;
        }
        const key = `bench-${index}-${n}-${randomBytes(3).toString('hex')}`;
        const sentAt = Date.now();
        const sent = performance.now();
        const measured = started > 0;
        const record: KeyRecord = { key, customerId: customer.customerId, sends: 1, orderIds: new Set(), firstSentAt: sentAt };
        run.keys.set(key, record);
        const answer = await client.send('placeOrder', PLACE, { input: { idempotencyKey: key, shippingAddress: ADDRESS, paymentToken: 'tok_visa' } }, customer.token);
        const orderId = answer.data?.placeOrder?.id as string | undefined;
        if (!orderId) {
          for (const code of answer.codes) count(errors, `placeOrder ${code}`);
          await sleep(100);
          continue;
        }
        placedInAll += 1;
        if (measured) placed += 1;
        record.orderIds.add(orderId);
        const order = { id: orderId, key, phase: 'checkout benchmark', sentAt, productId };
        run.orders.set(orderId, order);
        const status = await confirmation(ws, orderId);
        Object.assign(order, { lastSeenStatus: status });
        if (!measured) continue;
        outcomes[status] = (outcomes[status] ?? 0) + 1;
        if (status === 'CONFIRMED') {
          latencies.push(performance.now() - sent);
          lastConfirmedAt = Date.now();
          const slice = Math.floor((lastConfirmedAt - started) / (SLICE_SECONDS * 1000));
          slices[slice] = (slices[slice] ?? 0) + 1;
        }
      }
    } finally {
      await ws.dispose();
    }
  };
  await Promise.all(customers.map((c, i) => shopper(c, i)));
  clearTimeout(warmup);
  if (!started) throw new Error('the load ended before its warm-up did');
  const seconds = ((lastConfirmedAt || Date.now()) - started) / 1000;
  // Whole slices of the measured window only: the confirmations after it are of orders in flight.
  const whole = Array.from({ length: Math.floor(SECONDS / SLICE_SECONDS) }, (_, i) => slices[i] ?? 0);
  return { seconds, placed, confirmed: latencies.length, latenciesMs: latencies, slices: whole, outcomes, errors };
}

/**
 * How many times each warning or error message is in a process's output (`isTroubleLine`):
 * a JSON log line by its `msg`, anything else (a crash's trace on stderr) by its first 120 characters.
 */
function loggedTroubles(output: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of output.split('\n')) {
    if (!isTroubleLine(line)) continue;
    const msg = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line.slice(0, 120);
    counts.set(msg, (counts.get(msg) ?? 0) + 1);
  }
  return counts;
}

/** The troubles of the load, as one line: those logged since `before`, by process and message. */
function troublesLine(before: Map<string, Map<string, number>>, after: Map<string, Map<string, number>>): string {
  const parts: string[] = [];
  for (const [name, counts] of after) {
    for (const [msg, n] of counts) {
      const since = n - (before.get(name)?.get(msg) ?? 0);
      if (since > 0) parts.push(`${name} ${since}× "${msg}"`);
    }
  }
  return `warnings and errors logged during the load (warm-up included): ${parts.length ? parts.join('; ') : 'none'}`;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function cpuLine(spent: Map<string, number>, seconds: number): string {
  const total = [...spent.values()].reduce((a, b) => a + b, 0);
  const parts = [...spent].map(([name, s]) => `${name} ${((s / seconds) * 100).toFixed(1)}%`);
  return `${total.toFixed(2)} CPU s over ${seconds.toFixed(1)} s = ${((total / seconds) * 100).toFixed(1)}% of one core (${parts.join(', ')})`;
}

async function bench(makeTarget: () => Promise<Target>): Promise<void> {
  const referenceBefore = referenceWorkMs();
  log('starting the shop…');
  const target = await makeTarget();
  // The report's heading and results; the machine line goes between them once the shop has stopped.
  let heading: string[] = [];
  let results: string[] = [];
  try {
    log(`${target.name}: ${target.url}`);
    const admin = await target.login('admin@demo.shop');
    // Idle: nothing but the shop's own background work, first with the tail of its start
    // (compiles, the demo history's last events), then settled.
    await sleep(IDLE_AFTER_START_SECONDS * 1000);
    const idleStart = sampleGroups(target.groups);
    await sleep(IDLE_SECONDS * 1000);
    const idleMiddle = sampleGroups(target.groups);
    await sleep(IDLE_SECONDS * 1000);
    const idle = cpuBetween(idleStart, idleMiddle);
    const settled = cpuBetween(idleMiddle, sampleGroups(target.groups));

    const client = new RouterClient(target.url);
    const counts = target.stock.length ? target.stock : [];
    for (let i = 0; i < counts.length; i += 16) {
      await Promise.all(
        counts.slice(i, i + 16).map(async (s) => {
          const res = await client.send('order', `mutation ($input: SetStockInput!) { setStock(input: $input) { onHand } }`, { input: { ...s, onHand: STOCK } }, admin.token);
          if (res.codes.length) throw new Error(`setStock failed: ${res.codes.join(', ')}`);
        }),
      );
    }
    const run: RunRecord = { keys: new Map(), orders: new Map(), availableBefore: new Map() };
    if ('topology' in target) run.stockBaseline = await (target as { topology: ShopTopology }).topology.stockBaselineNow();
    else run.availableBefore = await availability(client, target.productIds);

    const customers: Shopper[] = [];
    for (let i = 0; i < CUSTOMERS; i += 8) {
      customers.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(8, CUSTOMERS - i) }, (_, j) => target.register(`bench-${i + j}-${randomBytes(3).toString('hex')}@example.com`)),
        )),
      );
    }
    log(`${customers.length} customers; checking out for ${WARMUP_SECONDS} s to warm up, then ${SECONDS} s measured…`);
    let table = procTable();
    let before = sampleGroups(target.groups, table);
    let clientBefore = process.cpuUsage();
    let machineBefore = sampleMachine(table);
    const troublesBefore = target.troubles?.();
    let counting: Promise<void> | undefined;
    const load = await runLoad(target, customers, run, () => {
      table = procTable();
      before = sampleGroups(target.groups, table);
      clientBefore = process.cpuUsage();
      machineBefore = sampleMachine(table);
      counting = target.statements?.reset();
      // Awaited once the load ends; a failure then ends the run.
      counting?.catch(() => {});
    });
    table = procTable();
    const after = sampleGroups(target.groups, table);
    const machineAfter = sampleMachine(table);
    const spent = cpuBetween(before, after);
    const writes = spentBetween(before, after, 'writes');
    const clientCpu = process.cpuUsage(clientBefore);
    const loadGeneratorSeconds = (clientCpu.user + clientCpu.system) / 1e6;
    await counting;
    const statements = target.statements ? statementLines(await target.statements.read(), load.confirmed) : [];
    const troubles = troublesBefore ? [troublesLine(troublesBefore, target.troubles!())] : [];
    const problems = await target.check(run, admin);

    const sorted = [...load.latenciesMs].sort((a, b) => a - b);
    const totalCpu = [...spent.values()].reduce((a, b) => a + b, 0);
    heading = [
      '',
      `## ${target.name}`,
      `node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${CUSTOMERS} customers, ${WARMUP_SECONDS} s warm-up, ${SECONDS} s measured` +
        (args['router-workers'] !== '1' && 'topology' in target ? `, ROUTER_WORKERS=${args['router-workers']}` : ''),
    ];
    results = [
      `idle, from ${IDLE_AFTER_START_SECONDS} s after start: ${cpuLine(idle, IDLE_SECONDS)}`,
      `idle, settled (the ${IDLE_SECONDS} s after that): ${cpuLine(settled, IDLE_SECONDS)}`,
      `load: ${load.confirmed} confirmed of ${load.placed} placed in ${load.seconds.toFixed(1)} s = ${(load.confirmed / load.seconds).toFixed(1)} orders/s; ` +
        `placeOrder → CONFIRMED p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms, slowest ${(sorted.at(-1) ?? 0).toFixed(0)} ms`,
      ...(load.slices.length > 1
        ? [`orders/s in each ${SLICE_SECONDS} s of the measured window: ${load.slices.map((n) => (n / SLICE_SECONDS).toFixed(0)).join(', ')}`]
        : []),
      `outcomes: ${JSON.stringify(load.outcomes)}${Object.keys(load.errors).length ? `, errors: ${JSON.stringify(load.errors)}` : ''}`,
      `cpu: ${cpuLine(spent, load.seconds)}; ${((totalCpu / Math.max(load.confirmed, 1)) * 1000).toFixed(1)} CPU ms per order; load generator ${loadGeneratorSeconds.toFixed(1)} CPU s`,
      machineLine(machineBefore, machineAfter, totalCpu, loadGeneratorSeconds),
      `write system calls per order (messages to other processes, log lines, PostgreSQL's WAL): ${[...writes]
        .map(([name, n]) => `${name} ${Number.isNaN(n) ? '?' : (n / Math.max(load.confirmed, 1)).toFixed(1)}`)
        .join(', ')}`,
      ...statements,
      ...troubles,
      problems.length ? `BROKEN:\n${problems.map((p) => `  - ${p}`).join('\n')}` : 'invariants hold: no order lost, pending or oversold; payments and stock reconciled',
    ];
  } finally {
    await target.close();
    if (PROFILE_DIR) log(`CPU profiles, written as each process stopped: ${PROFILE_DIR}/<process>/*.cpuprofile`);
  }
  const referenceAfter = referenceWorkMs();
  const machine = `machine: a fixed piece of work took ${referenceBefore.toFixed(0)} ms before the run and ${referenceAfter.toFixed(0)} ms after it (lower is faster; see bench/README.md)`;
  process.stdout.write([...heading, machine, ...results, ''].join('\n'));
}

async function main(): Promise<void> {
  const targets = args.target!.split(',');
  if (targets.includes('topology')) await bench(topologyTarget);
  if (targets.includes('embedded')) await bench(embeddedTarget);
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
