/**
 * How many concurrent subscriptions one router process holds, and how long a stock change
 * takes to reach the clients at that load:
 *
 *   npx tsx bench/subscriptions.ts [--subscriptions 250,500,1000,2000] [--events 150]
 *     [--rate 10] [--products 200] [--per-connection 20]
 *
 * The shop's subgraphs run in this process on a small seeded demo shop; the router runs
 * alone in a child process (its RSS and heap are what the table reports). Clients open
 * graphql-ws connections to the router, each holding up to `--per-connection`
 * `stockChanged` subscriptions spread over `--products` products. At each level an admin
 * changes stock through the router at `--rate` changes a second (`--events` changes in all);
 * every change sets a new, higher count, so each client recognises the event of a change by
 * its `availableQuantity`. The delay of an event is from just before its mutation was sent
 * to its arrival at the client. Everything listens on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { stockTopic } from '../platform/pubsub';
import { postGraphQL } from '../platform/testing';
import { composeSupergraph } from '../schema/compose';
import type { SubgraphName } from '../schema/subgraphs';
import { startTestShop, TEST_PASSWORD, type TestShop } from '../embedded/testing';

const ROOT = path.resolve(__dirname, '..');
const SHOP_SIZE = { products: 200, customers: 5, orders: 10 };
/** Longest wait for a level's new subscriptions to be listening at the inventory subgraph. */
const SETUP_LIMIT_MS = 12_000;
/** Longest stretch of one level's stock changes; a higher --events raises the rate instead. */
const EVENT_PHASE_LIMIT_MS = 15_000;
/** How long after the last change's response events may still arrive before they count as lost. */
const DRAIN_MS = 3_000;
/** Connections opened at once while ramping up, so the router is not hit by one burst of handshakes. */
const CONNECT_BATCH = 50;

const WATCH_STOCK = 'subscription ($productId: ID!) { stockChanged(productId: $productId) { id availableQuantity name } }';
const SET_STOCK = 'mutation ($input: SetStockInput!) { setStock(input: $input) { product { availableQuantity } } }';
const LOGIN = 'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }';

interface Options {
  levels: number[];
  events: number;
  rate: number;
  products: number;
  perConnection: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      subscriptions: { type: 'string', default: '250,500,1000,2000' },
      events: { type: 'string', default: '150' },
      rate: { type: 'string', default: '10' },
      products: { type: 'string', default: '200' },
      'per-connection': { type: 'string', default: '20' },
    },
    strict: true,
  });
  const positive = (name: string, text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number of at least 1, got ${text}`);
    return n;
  };
  const levels = values.subscriptions.split(',').map((s) => positive('subscriptions', s.trim()));
  const products = positive('products', values.products);
  if (products > SHOP_SIZE.products) throw new Error(`--products must be at most ${SHOP_SIZE.products}, the demo shop's catalog`);
  const events = positive('events', values.events);
  // Bounded in time: more events than fit in the phase at this rate are sent faster.
  const rate = Math.max(positive('rate', values.rate), Math.ceil((events * 1000) / EVENT_PHASE_LIMIT_MS));
  return { levels: [...new Set(levels)].sort((a, b) => a - b), events, rate, products, perConnection: positive('per-connection', values['per-connection']) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message: string) => process.stderr.write(`${message}\n`);

// ---------------------------------------------------------------------------------------------
// The router in a process of its own

interface RouterProcess {
  child: ChildProcess;
  url: string;
  /** Resident set size and its peak, from /proc, in bytes. */
  rss(): { rss: number; peak: number };
  /** `process.memoryUsage()` of the router, over IPC. */
  memory(): Promise<NodeJS.MemoryUsage>;
  /** CPU time the router has used, in ms. */
  cpuMs(): number;
  /** Log lines at warn or above since start. */
  warnings: string[];
  stop(): Promise<void>;
}

function procStatusBytes(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

/** utime + stime of a process from /proc/<pid>/stat (fields 14 and 15, after the command name). */
function procCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Clock ticks are 100 a second on Linux.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Runs `router/main.ts` on node itself (not through the tsx CLI, which would add a parent process). */
function startRouterProcess(supergraphFile: string, perConnection: number, publicKey: string): Promise<RouterProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', './bench/router-probe.ts', 'router/main.ts', '--supergraph', supergraphFile, '--port', '0', '--host', '127.0.0.1'],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          NODE_OPTIONS: '',
          NODE_ENV: 'test',
          LOG_LEVEL: 'info',
          LOG_PRETTY: 'false',
          SUBSCRIPTIONS_PER_CONNECTION: String(perConnection),
          // The shop's key, so the router accepts the tokens its customer subgraph issues.
          JWT_PUBLIC_KEY: publicKey,
        },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    let started = false;
    let pending = '';
    let startup = '';
    const warnings: string[] = [];
    const timer = setTimeout(() => reject(new Error(`router did not start:\n${startup}`)), 30_000);
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    // Every line is read (a full pipe would stall the router); warnings are kept for the report.
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (!started) startup += `${line}\n`;
        let entry: { level?: number; msg?: string; url?: string };
        try {
          entry = JSON.parse(line);
        } catch {
          continue;
        }
        if ((entry.level ?? 0) >= 40) warnings.push(line);
        if (!started && entry.msg === 'listening' && entry.url) {
          started = true;
          clearTimeout(timer);
          resolve({
            child,
            url: entry.url,
            warnings,
            rss: () => ({ rss: procStatusBytes(child.pid!, 'VmRSS'), peak: procStatusBytes(child.pid!, 'VmHWM') }),
            cpuMs: () => procCpuMs(child.pid!),
            memory: () =>
              new Promise((answer, fail) => {
                const onMessage = (message: unknown) => {
                  const memory = (message as { memory?: NodeJS.MemoryUsage }).memory;
                  if (!memory) return;
                  child.off('message', onMessage);
                  answer(memory);
                };
                child.on('message', onMessage);
                if (!child.send('memory')) fail(new Error('the router does not answer over IPC'));
              }),
            stop: async () => {
              if (child.exitCode === null && child.signalCode === null) {
                child.kill('SIGTERM');
                const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
                await exited;
                clearTimeout(killer);
              }
            },
          });
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (!started) startup += chunk.toString();
    });
    child.once('exit', (code) => {
      if (!started) reject(new Error(`router exited with ${code}:\n${startup}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Clients

/** One subscription of a client: the product it watches and when each stock level reached it. */
interface Watch {
  product: number;
  /** availableQuantity → first arrival (performance.now()). */
  arrivals: Map<number, number>;
  /** Subscribed since (performance.now()); changes sent earlier are not expected. */
  since: number;
  ended: boolean;
  error?: string;
}

interface Connection {
  client: Client;
  watches: Watch[];
}

function wsUrl(httpUrl: string): string {
  const url = new URL(httpUrl);
  url.protocol = 'ws:';
  return url.toString();
}

function openConnection(url: string, products: string[], first: number, count: number, closes: number[]): Connection {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    on: { closed: (event) => void closes.push((event as { code: number }).code) },
  });
  const watches: Watch[] = [];
  for (let i = first; i < first + count; i++) {
    const product = i % products.length;
    const watch: Watch = { product, arrivals: new Map(), since: performance.now(), ended: false };
    watches.push(watch);
    client.subscribe<{ stockChanged: { availableQuantity: number } }>(
      { query: WATCH_STOCK, variables: { productId: products[product] } },
      {
        next: (result) => {
          const quantity = result.data?.stockChanged?.availableQuantity;
          if (typeof quantity === 'number' && !watch.arrivals.has(quantity)) watch.arrivals.set(quantity, performance.now());
          if (result.errors) watch.error ??= JSON.stringify(result.errors);
        },
        error: (error) => {
          watch.ended = true;
          watch.error ??= Array.isArray(error) ? JSON.stringify(error) : String((error as { reason?: string }).reason ?? error);
        },
        complete: () => (watch.ended = true),
      },
    );
  }
  return { client, watches };
}

// ---------------------------------------------------------------------------------------------
// One level

interface Change {
  product: number;
  sentAt: number;
  /** availableQuantity the change produced, from the mutation's response. */
  quantity?: number;
  failed?: string;
}

interface LevelResult {
  subscriptions: number;
  connections: number;
  setupS: number;
  rssMb: number;
  peakRssMb: number;
  heapMb: number;
  cpuPercent: number;
  /** CPU of this process (subgraphs, their stores and the clients) over the same stretch. */
  shopCpuPercent: number;
  /** Deliveries a second over the stock-change phase. */
  perSecond: number;
  expected: number;
  delivered: number;
  lost: number;
  failedChanges: number;
  endedEarly: number;
  p50: number;
  p99: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const MB = 1024 * 1024;

class Bench {
  readonly connections: Connection[] = [];
  readonly closes: number[] = [];
  private nextOnHand = 1_000_000;
  private admin = '';

  constructor(
    private readonly shop: TestShop,
    private readonly router: RouterProcess,
    private readonly products: string[],
    private readonly warehouseId: string,
    private readonly opts: Options,
  ) {}

  get watches(): Watch[] {
    return this.connections.flatMap((c) => c.watches);
  }

  async login(): Promise<void> {
    const res = await postGraphQL<{ login: { accessToken: string } }>(this.router.url, LOGIN, {
      input: { email: 'admin@demo.shop', password: TEST_PASSWORD },
    });
    if (!res.data?.login) throw new Error(`admin login through the router failed: ${JSON.stringify(res.errors)}`);
    this.admin = `Bearer ${res.data.login.accessToken}`;
  }

  /** Subscribers listening at the inventory subgraph, over the watched products. */
  async listening(): Promise<number> {
    const pubsub = await this.shop.deps.pubsub();
    return this.products.reduce((n, id) => n + pubsub.subscriberCount(stockTopic(id)), 0);
  }

  /** Opens connections until `target` subscriptions exist; resolves with how many are listening. */
  async rampTo(target: number): Promise<number> {
    const url = wsUrl(this.router.url);
    const deadline = Date.now() + SETUP_LIMIT_MS;
    let have = this.watches.length;
    let opened = 0;
    while (have < target && Date.now() < deadline) {
      const count = Math.min(this.opts.perConnection, target - have);
      this.connections.push(openConnection(url, this.products, have, count, this.closes));
      have += count;
      // Let each batch of handshakes finish before the next.
      if (++opened % CONNECT_BATCH === 0) await this.waitListening(have - count, deadline);
    }
    return this.waitListening(have, deadline);
  }

  private async waitListening(target: number, deadline: number): Promise<number> {
    let listening = await this.listening();
    while (listening < target && Date.now() < deadline && this.watches.some((w) => !w.ended)) {
      await sleep(50);
      listening = await this.listening();
    }
    return listening;
  }

  /** Sends `count` stock changes at the configured rate, round-robin over the products, open loop. */
  async changeStock(count: number): Promise<Change[]> {
    const changes: Change[] = [];
    const sent: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const due = start + (i * 1000) / this.opts.rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const change: Change = { product: i % this.products.length, sentAt: 0 };
      changes.push(change);
      // Each change sets a count never used before, so its event is recognisable at every client.
      const onHand = this.nextOnHand++;
      change.sentAt = performance.now();
      sent.push(
        postGraphQL<{ setStock: { product: { availableQuantity: number } } }>(
          this.router.url,
          SET_STOCK,
          { input: { productId: this.products[change.product], warehouseId: this.warehouseId, onHand } },
          { authorization: this.admin },
        ).then(
          (res) => {
            if (res.data?.setStock) change.quantity = res.data.setStock.product.availableQuantity;
            else change.failed = JSON.stringify(res.errors);
          },
          (error: Error) => void (change.failed = error.message),
        ),
      );
    }
    await Promise.all(sent);
    return changes;
  }

  /** Deliveries each change should cause: one per subscription to its product open when it was sent. */
  expectedDeliveries(changes: Change[]): { change: Change; watch: Watch }[] {
    const byProduct = new Map<number, Watch[]>();
    for (const watch of this.watches) {
      const list = byProduct.get(watch.product) ?? [];
      list.push(watch);
      byProduct.set(watch.product, list);
    }
    return changes
      .filter((c) => c.quantity !== undefined)
      .flatMap((change) => (byProduct.get(change.product) ?? []).filter((w) => w.since <= change.sentAt).map((watch) => ({ change, watch })));
  }

  async drain(expected: { change: Change; watch: Watch }[]): Promise<void> {
    const deadline = Date.now() + DRAIN_MS;
    while (Date.now() < deadline && expected.some(({ change, watch }) => !watch.ended && !watch.arrivals.has(change.quantity!))) await sleep(50);
  }

  async runLevel(target: number): Promise<LevelResult> {
    const setupStart = performance.now();
    const listening = await this.rampTo(target);
    const setupS = (performance.now() - setupStart) / 1000;
    // Events for subscriptions still setting up count as lost: the table states what was held, not what was asked.
    if (listening < target) log(`  only ${listening} of ${target} subscriptions are listening after ${setupS.toFixed(1)} s`);

    const cpuBefore = this.router.cpuMs();
    const shopCpuBefore = process.cpuUsage();
    const phaseStart = performance.now();
    const changes = await this.changeStock(this.opts.events);
    const expected = this.expectedDeliveries(changes);
    const sendingS = (performance.now() - phaseStart) / 1000;
    await this.drain(expected);
    const elapsed = performance.now() - phaseStart;
    const cpuPercent = ((this.router.cpuMs() - cpuBefore) / elapsed) * 100;
    const shopCpu = process.cpuUsage(shopCpuBefore);
    const shopCpuPercent = ((shopCpu.user + shopCpu.system) / 1000 / elapsed) * 100;

    const delays: number[] = [];
    for (const { change, watch } of expected) {
      const arrival = watch.arrivals.get(change.quantity!);
      if (arrival !== undefined) delays.push(arrival - change.sentAt);
    }
    delays.sort((a, b) => a - b);
    const { rss, peak } = this.router.rss();
    const memory = await this.router.memory();
    return {
      subscriptions: listening,
      connections: this.connections.length,
      setupS,
      rssMb: rss / MB,
      peakRssMb: peak / MB,
      heapMb: memory.heapUsed / MB,
      cpuPercent,
      shopCpuPercent,
      perSecond: expected.length / sendingS,
      expected: expected.length,
      delivered: delays.length,
      lost: expected.length - delays.length,
      failedChanges: changes.filter((c) => c.failed).length,
      endedEarly: this.watches.filter((w) => w.ended).length,
      p50: percentile(delays, 50),
      p99: percentile(delays, 99),
      max: delays.at(-1) ?? NaN,
    };
  }

  async closeClients(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.client.dispose()));
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows: LevelResult[]): string {
  const head = ['subscriptions', 'connections', 'setup s', 'RSS MB', 'peak RSS MB', 'heap MB', 'router CPU %', 'shop CPU %', 'events/s', 'events delivered', 'p50 ms', 'p99 ms', 'max ms', 'lost'];
  const body = rows.map((r) => [
    String(r.subscriptions),
    String(r.connections),
    r.setupS.toFixed(1),
    r.rssMb.toFixed(0),
    r.peakRssMb.toFixed(0),
    r.heapMb.toFixed(0),
    r.cpuPercent.toFixed(0),
    r.shopCpuPercent.toFixed(0),
    r.perSecond.toFixed(0),
    `${r.delivered}/${r.expected}`,
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.max.toFixed(1),
    String(r.lost),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 1) + ':').join('|')}|`, ...body.map(line)].join('\n');
}

function machine(): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  return `node ${process.version}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB, load average ${load}`;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = options();
  log(`machine: ${machine()}`);
  log(`seeding the demo shop (${SHOP_SIZE.products} products) and starting its subgraphs`);
  let shop: TestShop | undefined;
  let router: RouterProcess | undefined;
  let bench: Bench | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-subscriptions-'));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await bench?.closeClients().catch(() => {});
    await router?.stop().catch(() => {});
    await shop?.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const interrupted = () => void stop().then(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    shop = await startTestShop({ size: SHOP_SIZE });
    const urls = new Map([...shop.subgraphs].map(([name, { service }]) => [name, service.url]));
    const supergraphFile = path.join(dir, 'supergraph.graphql');
    fs.writeFileSync(supergraphFile, composeSupergraph((name) => urls.get(name as SubgraphName)!));
    router = await startRouterProcess(supergraphFile, opts.perConnection, shop.deps.config.JWT_PUBLIC_KEY!);
    const idle = router.rss();
    const idleHeap = (await router.memory()).heapUsed;
    log(`router pid ${router.child.pid} at ${router.url}: RSS ${(idle.rss / MB).toFixed(0)} MB, heap ${(idleHeap / MB).toFixed(0)} MB with no subscriptions`);

    const products = shop.data.products.slice(0, opts.products).map((p) => p.id);
    bench = new Bench(shop, router, products, shop.data.warehouses[0]!.id, opts);
    await bench.login();

    // Warm-up, not measured: the first events compile the router's and subgraphs' hot paths.
    log('warming up');
    await bench.rampTo(Math.min(opts.levels[0]!, 100));
    await bench.changeStock(Math.min(opts.rate * 2, 40));
    await sleep(1000);

    const rows: LevelResult[] = [];
    log(`levels ${opts.levels.join(', ')}; ${opts.events} stock changes per level at ${opts.rate}/s over ${products.length} products, ${opts.perConnection} subscriptions per connection`);
    for (const level of opts.levels) {
      log(`level ${level}: opening subscriptions`);
      const row = await bench.runLevel(level);
      rows.push(row);
      log(
        `level ${level}: ${row.delivered}/${row.expected} delivered, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, RSS ${row.rssMb.toFixed(0)} MB` +
          (row.failedChanges ? `, ${row.failedChanges} stock changes failed` : '') +
          (row.endedEarly ? `, ${row.endedEarly} subscriptions ended early` : ''),
      );
      if (row.endedEarly > 0) {
        const sample = bench.watches.find((w) => w.error)?.error;
        if (sample) log(`  first subscription error: ${sample.slice(0, 300)}`);
      }
      if (row.endedEarly > row.subscriptions / 2) {
        log('most subscriptions ended: stopping the ramp here');
        break;
      }
    }

    process.stdout.write(`\n${machine()}\n`);
    process.stdout.write(
      `router process alone (idle: RSS ${(idle.rss / MB).toFixed(0)} MB, heap ${(idleHeap / MB).toFixed(0)} MB); ` +
        `${opts.events} stock changes per level at ${opts.rate}/s over ${products.length} products\n\n`,
    );
    process.stdout.write(`${table(rows)}\n`);
    if (router.warnings.length > 0) {
      process.stdout.write(`\nrouter logged ${router.warnings.length} warnings; first: ${router.warnings[0]!.slice(0, 300)}\n`);
    }
  } finally {
    await stop();
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
