/**
 * The router against stock `@apollo/gateway`, side by side, on The Guild's federation
 * gateways benchmark (graphql-hive/graphql-gateways-benchmark, "constant VUs": one deep
 * query over four subgraphs, a response of about 88 KB, 50 clients), then the router alone
 * on the README's query over the shop's six subgraphs.
 *
 *   npm run bench:gateway                              # 10 s per measurement, 50 connections, 2 rounds
 *   npx tsx bench/gateway.ts --seconds 3 --rounds 1    # a quick look
 *   npx tsx bench/gateway.ts --sections guild --rounds 5 --connections 100
 *   npx tsx bench/gateway.ts --sections guild --rounds 1 --cpu-prof /tmp/profiles
 *
 * Every server is a process of its own on 127.0.0.1 and free ports. With `taskset` and two
 * cores, each gateway runs alone on core 0 while the subgraphs and the load generator share
 * core 1, so a gateway's figures are its own. Per round, every variant is started fresh, in
 * turn (A B C A B C …): stock `@apollo/gateway` under stock `@apollo/server`, and the router
 * (`bench/router-process.ts`: `startRouter` as deployed, NODE_ENV=production, guard on) with
 * DEDUPLICATE_SUBGRAPH_REQUESTS off and on. Before a variant is measured its answer to the
 * scenario's query must equal `expected.json`. The load generator (bench/load-generator.ts)
 * warms the gateway up, then measures; CPU time is utime+stime of each process from
 * /proc/<pid>/stat over the measured window.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { parse } from 'graphql';
import { generateTokenPems } from '../platform/auth';
import { CostCalculator } from '../router/cost';
import { composeSupergraph } from '../schema/compose';
import { composeGuildSupergraph, GUILD_DATA_DIR, readGuildScenario, type GuildSubgraph } from './guild/subgraphs';
import type { LoadMessage, LoadResult, LoadRun } from './load-generator';
import { SHOP_QUERY } from './shop-query';

const ROOT = path.resolve(__dirname, '..');
const SECTIONS = ['guild', 'shop'] as const;
type Section = (typeof SECTIONS)[number];

function options() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '2' },
      sections: { type: 'string', default: SECTIONS.join(',') },
      'shop-connections': { type: 'string', default: '16' },
      'data-dir': { type: 'string', default: GUILD_DATA_DIR },
      pin: { type: 'string', default: 'auto' },
      'cpu-prof': { type: 'string' },
    },
    strict: true,
  });
  const whole = (name: string, text: string, least: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < least) throw new Error(`--${name} must be a whole number of at least ${least}, got ${text}`);
    return n;
  };
  const sections = values.sections.split(',').map((s) => s.trim());
  for (const s of sections) if (!SECTIONS.includes(s as Section)) throw new Error(`--sections takes ${SECTIONS.join(', ')}; got ${s}`);
  if (!['auto', 'off'].includes(values.pin)) throw new Error(`--pin takes auto or off; got ${values.pin}`);
  return {
    seconds: whole('seconds', values.seconds, 1),
    warmup: whole('warmup', values.warmup, 0),
    connections: whole('connections', values.connections, 1),
    rounds: whole('rounds', values.rounds, 1),
    shopConnections: whole('shop-connections', values['shop-connections'], 1),
    sections: new Set(sections as Section[]),
    dataDir: path.resolve(values['data-dir']),
    pin: values.pin as 'auto' | 'off',
    profileDir: values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']),
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
/**
 * Largest estimated cost the router admits on the Guild graph (MAX_OPERATION_COST). Its
 * subgraphs have no `@listSize`, so at the default list size of 10 its query is estimated
 * at 24,420, beyond the default limit of 5,000: a deployment of this graph sets its own.
 */
const GUILD_MAX_OPERATION_COST = 50_000;

// ---------------------------------------------------------------------------------------------
// Processes

/** CPU time a process has used, in ms, from /proc/<pid>/stat (utime + stime, all its threads). */
function cpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last `)`.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Where processes run: `taskset -c <core>` when it exists and cores 0 and 1 are ours. */
interface Placement {
  pinned: boolean;
  /** Why not, when not. */
  reason?: string;
}

function placement(wanted: 'auto' | 'off'): Placement {
  if (wanted === 'off') return { pinned: false, reason: '--pin off' };
  const probe = spawnSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { pinned: false, reason: 'no taskset' };
  // "pid 123's current affinity list: 0,1" or "0-3".
  const list = probe.stdout.split(':').pop()!.trim();
  const cores = new Set<number>();
  for (const part of list.split(',')) {
    const [from, to] = part.split('-').map(Number);
    for (let c = from!; c <= (to ?? from!); c++) cores.add(c);
  }
  if (!cores.has(0) || !cores.has(1)) return { pinned: false, reason: `this process may use cores ${list} only` };
  return { pinned: true };
}

interface Child {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Messages over IPC, as they come. */
  messages: (listener: (message: unknown) => void) => () => void;
  /** The last lines it wrote, stdout and stderr. */
  output(): string;
  /** SIGTERM to its process group, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Child>();
const OUTPUT_KEPT = 64 * 1024;

/**
 * Starts `script` on node itself (`--import tsx`, so the pid is the program, not a launcher)
 * in a process group of its own with an IPC channel, on `core` when pinning. A program that
 * knows nothing of the benchmark (a gateway) is given `bench/exit-with-parent.ts`, so that
 * it stops when the benchmark is gone; the benchmark's own helpers watch their channel.
 */
function launch(name: string, script: string, args: string[], how: { env?: Record<string, string>; where: Placement; core: number; leash?: boolean; nodeFlags?: readonly string[] }): Child {
  const node = [process.execPath, ...(how.nodeFlags ?? []), '--import', 'tsx', ...(how.leash ? ['--import', './bench/exit-with-parent.ts'] : []), script, ...args];
  const [command, ...rest] = how.where.pinned ? ['taskset', '-c', String(how.core), ...node] : node;
  const child = spawn(command!, rest, {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...how.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: true,
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
  };
  // Every line is read: a full pipe would stall the program.
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  // A message to a process that has just exited fails here, not as an uncaught error; its exit is handled where it is awaited.
  child.on('error', (error) => keep(Buffer.from(`${error.message}\n`)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // The group is gone already.
    }
  };
  const entry: Child = {
    name,
    child,
    pid: child.pid!,
    messages: (listener) => {
      child.on('message', listener);
      return () => child.off('message', listener);
    },
    output: () => output,
    stop: async (graceMs = 10_000) => {
      if (alive()) {
        signal('SIGTERM');
        const killer = setTimeout(() => signal('SIGKILL'), graceMs);
        await exited;
        clearTimeout(killer);
      }
      running.delete(entry);
    },
  };
  running.add(entry);
  void exited.then(() => running.delete(entry));
  return entry;
}

/** Resolves with what `match` finds in the child's IPC messages or stdout once it listens; rejects if it exits or takes too long. */
function whenListening<T>(proc: Child, match: { message?: (m: unknown) => T | undefined; line?: (line: string) => T | undefined }, timeoutMs = 120_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let pending = '';
    const cleanup = () => {
      clearTimeout(timer);
      unsubscribe();
      proc.child.stdout!.off('data', onData);
      proc.child.off('exit', onExit);
    };
    const done = (value: T) => (cleanup(), resolve(value));
    const fail = (why: string) => (cleanup(), reject(new Error(`${proc.name} ${why}:\n${proc.output().slice(-4000)}`)));
    const timer = setTimeout(() => fail(`did not listen within ${timeoutMs / 1000} s`), timeoutMs);
    const unsubscribe = proc.messages((m) => {
      const found = match.message?.(m);
      if (found !== undefined) done(found);
    });
    const onData = (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const found = match.line?.(line);
        if (found !== undefined) return done(found);
      }
    };
    const onExit = (code: number | null, sig: NodeJS.Signals | null) => fail(`exited (${sig ?? code})`);
    proc.child.stdout!.on('data', onData);
    proc.child.once('exit', onExit);
  });
}

/** The URL in a JSON log line saying `listening` (the router's pino line, the stock gateway's own). */
function listeningUrl(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return entry.msg === 'listening' && typeof entry.url === 'string' ? entry.url : undefined;
  } catch {
    return undefined;
  }
}

/** Ends every process still running, at once, as this process exits. */
function killAllNow(): void {
  for (const proc of running) {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Measurement extends LoadResult {
  variant: string;
  round: number;
  /** CPU ms the gateway spent per answer in the window. */
  gatewayCpuPerRequest: number;
  /** Share of one core each spent over the window, 100 being one core busy. */
  gatewayCpuPercent: number;
  backendCpuPercent: number;
  loadCpuPercent: number;
  /** Requests the gateway sent to subgraphs per answer, when the subgraphs count them. */
  subgraphRequestsPerRequest?: number;
}

/** A process that counts the requests its subgraphs received, over IPC. */
function subgraphRequests(proc: Child): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (unsubscribe(), reject(new Error(`${proc.name} did not say its request counts`))), 5000);
    const unsubscribe = proc.messages((m) => {
      const message = m as { kind?: string; requests?: Record<GuildSubgraph, number> };
      if (message.kind !== 'requests' || !message.requests) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(Object.values(message.requests).reduce((a, b) => a + b, 0));
    });
    proc.child.send('requests');
  });
}

interface Bench {
  load: Child;
  warmup: number;
  seconds: number;
}

/**
 * One load on `gateway`, with CPU of the gateway, the backend (subgraphs) and the load
 * generator over the window; and, when the backend counts them, the subgraph requests per
 * answer over the whole run (warm-up and requests in flight at the end included, so that
 * none is counted half).
 */
async function measure(bench: Bench, gateway: Child, backend: Child, run: Omit<LoadRun, 'kind' | 'warmupSeconds' | 'seconds'>, countsRequests: boolean): Promise<Omit<Measurement, 'variant' | 'round'>> {
  type Sample = { at: number; gateway: number; backend: number; load: number };
  const sample = (): Sample => ({ at: performance.now(), gateway: cpuMs(gateway.pid), backend: cpuMs(backend.pid), load: cpuMs(bench.load.pid) });
  const callsBefore = countsRequests ? await subgraphRequests(backend) : undefined;
  const result = await new Promise<LoadResult & { opened: Sample; closed: Sample }>((resolve, reject) => {
    let opened: Sample | undefined;
    let closed: Sample | undefined;
    const settle = (outcome: () => void) => {
      unsubscribe();
      bench.load.child.off('exit', onExit);
      outcome();
    };
    const onExit = () => settle(() => reject(new Error(`the load generator exited:\n${bench.load.output().slice(-2000)}`)));
    const unsubscribe = bench.load.messages((m) => {
      const message = m as LoadMessage;
      if (message.kind === 'measuring') opened = sample();
      else if (message.kind === 'measured') closed = sample();
      else if (message.kind === 'failed') settle(() => reject(new Error(`load generator: ${message.error}`)));
      else if (message.kind === 'result') {
        if (opened && closed) {
          const window = { opened, closed };
          settle(() => resolve({ ...message.result, ...window }));
        } else settle(() => reject(new Error('the load generator did not say when it measured')));
      }
    });
    bench.load.child.once('exit', onExit);
    const message: LoadRun = { kind: 'run', ...run, warmupSeconds: bench.warmup, seconds: bench.seconds };
    bench.load.child.send(message);
  });
  const callsAfter = countsRequests ? await subgraphRequests(backend) : undefined;
  const { opened, closed, ...figures } = result;
  const percent = (from: number, to: number) => (100 * (to - from)) / (closed.at - opened.at);
  return {
    ...figures,
    gatewayCpuPerRequest: figures.requests ? (closed.gateway - opened.gateway) / figures.requests : NaN,
    gatewayCpuPercent: percent(opened.gateway, closed.gateway),
    backendCpuPercent: percent(opened.backend, closed.backend),
    loadCpuPercent: percent(opened.load, closed.load),
    ...(callsBefore !== undefined && callsAfter !== undefined && figures.allRequests ? { subgraphRequestsPerRequest: (callsAfter - callsBefore) / figures.allRequests } : {}),
  };
}

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: { data?: unknown; errors?: unknown[] } }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  try {
    return { status: response.status, json: JSON.parse(text) as { data?: unknown; errors?: unknown[] } };
  } catch {
    throw new Error(`${url} answered ${response.status} with no JSON: ${text.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Printing

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const fixed = (n: number | undefined, digits: number, width: number) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits)).padStart(width);

/** Share of core 1 the backend and the load generator may take together before they, not the gateway, may be what limits a run. */
const SHARED_CORE_BUSY_PERCENT = 85;

/** A warning for the runs where the shared core was nearly busy: there the gateway may have waited on its backend or its clients. */
function sharedCoreNote(rows: Measurement[]): string[] {
  const busy = rows.filter((r) => r.backendCpuPercent + r.loadCpuPercent > SHARED_CORE_BUSY_PERCENT);
  if (!busy.length) return [];
  return [`  careful: backend + load generator took over ${SHARED_CORE_BUSY_PERCENT} % of a core in ${busy.map((r) => `${r.variant} (round ${r.round})`).join(', ')}; those figures may be theirs, not the gateway's`];
}

/** One row per variant, each figure the mean over its rounds; `failures` summed. */
function table(variants: string[], rows: Measurement[], withSubgraphCalls: boolean, gatewayWord: string): string {
  const head = [
    `  ${'variant'.padEnd(26)} |  req/s | p50 ms | p99 ms | ${gatewayWord} CPU ms/req | ${gatewayWord} CPU % | backend CPU % | load CPU %${withSubgraphCalls ? ' | subgraph req/req' : ''} | failures`,
  ];
  for (const variant of variants) {
    const of = rows.filter((r) => r.variant === variant);
    if (!of.length) continue;
    const avg = (pick: (r: Measurement) => number | undefined) => {
      const values = of.map(pick).filter((v): v is number => v !== undefined);
      return values.length ? mean(values) : undefined;
    };
    const cpuWidth = `${gatewayWord} CPU ms/req`.length;
    head.push(
      `  ${variant.padEnd(26)} | ${fixed(avg((r) => r.perSecond), 0, 6)} | ${fixed(avg((r) => r.p50), 1, 6)} | ${fixed(avg((r) => r.p99), 1, 6)} | ${fixed(avg((r) => r.gatewayCpuPerRequest), 2, cpuWidth)} | ${fixed(avg((r) => r.gatewayCpuPercent), 0, `${gatewayWord} CPU %`.length)} | ${fixed(avg((r) => r.backendCpuPercent), 0, 13)} | ${fixed(avg((r) => r.loadCpuPercent), 0, 10)}${withSubgraphCalls ? ` | ${fixed(avg((r) => r.subgraphRequestsPerRequest), 2, 16)}` : ''} | ${String(of.reduce((n, r) => n + r.failures, 0)).padStart(8)}`,
    );
  }
  return head.join('\n');
}

function progress(m: Measurement): string {
  return (
    `  ${m.variant}, round ${m.round}: ${m.perSecond.toFixed(0)} req/s, p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, ` +
    `${m.gatewayCpuPerRequest.toFixed(2)} CPU ms/req (${m.gatewayCpuPercent.toFixed(0)} %), backend ${m.backendCpuPercent.toFixed(0)} %, load ${m.loadCpuPercent.toFixed(0)} %` +
    (m.subgraphRequestsPerRequest !== undefined ? `, ${m.subgraphRequestsPerRequest.toFixed(2)} subgraph req/req` : '') +
    (m.failures ? `, ${m.failures} failures (first: ${m.firstFailure?.slice(0, 200)})` : '')
  );
}

// ---------------------------------------------------------------------------------------------
// The sections

type Options = ReturnType<typeof options>;

/** The router's environment as deployed, but on this machine: production posture, guard on, one process. */
function routerEnv(dataDir: string, publicKey: string, extra: Record<string, string>): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
    ROUTER_WORKERS: '1',
    DATA_DIR: dataDir,
    JWT_PUBLIC_KEY: publicKey,
    ...extra,
  };
}

const ROUTER_VARIANTS = [
  { variant: 'router, dedup off', dedup: 'false' },
  { variant: 'router, dedup on', dedup: 'true' },
] as const;

/** A gateway on core 0, once it listens. */
/**
 * The Node flags the router runs with (package.json's `router` and `start`, the image): a
 * young generation large enough that a response's short-lived objects rarely survive to be
 * copied. Every gateway gets them, stock too, so the comparison is of the gateways alone.
 */
const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=64'];

/** `node --cpu-prof` for a gateway when profiling: its profile goes to `<dir>/<section>-<variant>-<round>/` as it stops. */
function profiling(opts: Options, section: string, variant: string, round: number): string[] {
  if (opts.profileDir === undefined) return [];
  const name = `${section}-${variant}-${round}`.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  return ['--cpu-prof', `--cpu-prof-dir=${path.join(opts.profileDir, name)}`];
}

async function startGateway(name: string, script: string, args: string[], env: Record<string, string>, where: Placement, extraFlags: string[] = []): Promise<{ proc: Child; url: string }> {
  const proc = launch(name, script, args, { env, where, core: 0, leash: true, nodeFlags: [...GATEWAY_NODE_FLAGS, ...extraFlags] });
  try {
    return { proc, url: await whenListening(proc, { line: listeningUrl }) };
  } catch (error) {
    await proc.stop(2000);
    throw error;
  }
}

function startRouterProcess(name: string, supergraphFile: string, env: Record<string, string>, where: Placement, extraFlags: string[] = []): Promise<{ proc: Child; url: string }> {
  return startGateway(name, 'bench/router-process.ts', ['--supergraph', supergraphFile, '--port', '0', '--host', '127.0.0.1'], env, where, extraFlags);
}

async function guildSection(opts: Options, where: Placement, bench: Bench, dir: string): Promise<string> {
  const scenario = readGuildScenario(opts.dataDir);
  log(`Guild scenario from ${opts.dataDir}: starting its four subgraphs`);
  // In production mode, as the gateways run: outside it graphql-js follows every `instanceof`
  // that fails with a look for a second copy of graphql, 9 % of these subgraphs' CPU profile.
  // They share a core with the load generator, and a gateway that outruns it is measured at its pace.
  const subgraphs = launch('Guild subgraphs', 'bench/guild/main.ts', ['--data-dir', opts.dataDir], { where, core: 1, env: { NODE_ENV: 'production' } });
  try {
    const urls = await whenListening(subgraphs, {
      message: (m) => ((m as { kind?: string }).kind === 'listening' ? (m as { urls: Record<GuildSubgraph, string> }).urls : undefined),
    });
    const supergraphFile = path.join(dir, 'guild-supergraph.graphql');
    fs.writeFileSync(supergraphFile, composeGuildSupergraph(urls));
    const cost = new CostCalculator(fs.readFileSync(supergraphFile, 'utf8')).estimated(parse((JSON.parse(scenario.requestBody) as { query: string }).query));
    if (cost > GUILD_MAX_OPERATION_COST) throw new Error(`the query's estimated cost ${cost} is above the router's limit here, ${GUILD_MAX_OPERATION_COST}`);
    const { publicKey } = generateTokenPems();
    type Variant = { variant: string; start: (flags: string[]) => Promise<{ proc: Child; url: string }> };
    const variants: Variant[] = [
      {
        variant: 'stock @apollo/gateway',
        start: (flags) => startGateway('stock gateway', 'bench/guild/stock-gateway.ts', ['--supergraph', supergraphFile], { NODE_ENV: 'production' }, where, flags),
      },
      ...ROUTER_VARIANTS.map(({ variant, dedup }) => ({
        variant,
        start: (flags: string[]) =>
          startRouterProcess(
            variant,
            supergraphFile,
            routerEnv(path.join(dir, 'router-data'), publicKey, { MAX_OPERATION_COST: String(GUILD_MAX_OPERATION_COST), DEDUPLICATE_SUBGRAPH_REQUESTS: dedup }),
            where,
            flags,
          ),
      })),
    ];
    const rows: Measurement[] = [];
    for (let round = 1; round <= opts.rounds; round++) {
      for (const { variant, start } of variants) {
        log(`round ${round}: ${variant}`);
        const { proc, url } = await start(profiling(opts, 'guild', variant, round));
        try {
          const { status, json } = await post(url, scenario.requestBody);
          if (json.errors !== undefined) throw new Error(`${variant} answered ${status} with errors: ${JSON.stringify(json.errors).slice(0, 1000)}`);
          if (!isDeepStrictEqual(json.data, scenario.expected.data)) {
            throw new Error(`${variant} answered other data than expected.json: ${JSON.stringify(json.data).slice(0, 500)}…`);
          }
          const m = await measure(bench, proc, subgraphs, { url, body: scenario.requestBody, connections: opts.connections }, true);
          rows.push({ variant, round, ...m });
          log(progress(rows[rows.length - 1]!));
        } finally {
          await proc.stop();
        }
      }
    }
    const names = variants.map((v) => v.variant);
    const stock = mean(rows.filter((r) => r.variant === names[0]).map((r) => r.perSecond));
    const ratio = (variant: string) => mean(rows.filter((r) => r.variant === variant).map((r) => r.perSecond)) / stock;
    const calls = (variant: string) => mean(rows.filter((r) => r.variant === variant).map((r) => r.subgraphRequestsPerRequest ?? NaN));
    const lines = [
      `The Guild's federation gateways benchmark: its query (${(mean(rows.map((r) => r.bytes)) / 1000).toFixed(1)} KB answers, equal to expected.json), ` +
        `${opts.connections} connections, ${opts.warmup} s warm-up + ${opts.seconds} s measured per variant and round, ${opts.rounds} rounds in turn`,
      `router as deployed: NODE_ENV=production, guard on, MAX_OPERATION_COST=${GUILD_MAX_OPERATION_COST} (the query's estimated cost: ${cost})`,
      table(names, rows, true, 'gateway'),
      `  router / stock, req/s: dedup off ${ratio(ROUTER_VARIANTS[0].variant).toFixed(3)}, dedup on ${ratio(ROUTER_VARIANTS[1].variant).toFixed(3)}`,
    ];
    lines.push(...sharedCoreNote(rows));
    if (Math.abs(calls(ROUTER_VARIANTS[0].variant) - calls(ROUTER_VARIANTS[1].variant)) < 0.01) {
      lines.push('  the router sent as many subgraph requests per request with DEDUPLICATE_SUBGRAPH_REQUESTS on as off');
    }
    return lines.join('\n');
  } finally {
    await subgraphs.stop();
  }
}

async function shopSection(opts: Options, where: Placement, bench: Bench, dir: string): Promise<string> {
  log('shop: starting its six subgraphs (embedded stores, small demo shop)');
  const shop = launch('shop subgraphs', 'bench/shop-subgraphs.ts', [], { where, core: 1 });
  try {
    type Ready = { urls: Record<string, string>; token: string; publicKey: string };
    const ready = await whenListening(shop, { message: (m) => ((m as { kind?: string }).kind === 'listening' ? (m as Ready) : undefined) }, 300_000);
    const supergraphFile = path.join(dir, 'shop-supergraph.graphql');
    fs.writeFileSync(supergraphFile, composeSupergraph((name) => ready.urls[name]!));
    const body = JSON.stringify({ query: SHOP_QUERY });
    const headers = { authorization: `Bearer ${ready.token}` };
    const rows: Measurement[] = [];
    let firstAnswer: unknown;
    for (let round = 1; round <= opts.rounds; round++) {
      for (const { variant, dedup } of ROUTER_VARIANTS) {
        log(`shop, round ${round}: ${variant}`);
        const { proc, url } = await startRouterProcess(variant, supergraphFile, routerEnv(path.join(dir, 'router-data'), ready.publicKey, { DEDUPLICATE_SUBGRAPH_REQUESTS: dedup }), where, profiling(opts, 'shop', variant, round));
        try {
          const { status, json } = await post(url, body, headers);
          const me = (json.data as { me?: unknown } | undefined)?.me;
          if (json.errors !== undefined || !me) throw new Error(`${variant} answered ${status}: ${JSON.stringify(json).slice(0, 1000)}`);
          firstAnswer ??= json.data;
          if (!isDeepStrictEqual(json.data, firstAnswer)) throw new Error(`${variant} answered other data than the first router did`);
          const m = await measure(bench, proc, shop, { url, body, headers, connections: opts.shopConnections }, false);
          rows.push({ variant, round, ...m });
          log(progress(rows[rows.length - 1]!));
        } finally {
          await proc.stop();
        }
      }
    }
    return [
      `The README's query over the shop's six subgraphs (one process, PGlite), signed in, ${opts.shopConnections} connections, ` +
        `${opts.warmup} s warm-up + ${opts.seconds} s measured per variant and round, ${opts.rounds} rounds in turn`,
      `router CPU ms/req is the router's own work: utime+stime of its process over the window ÷ answers; p50 and p99 are end to end (subgraphs and stores included)`,
      table(
        ROUTER_VARIANTS.map((v) => v.variant),
        rows,
        false,
        'router',
      ),
      ...sharedCoreNote(rows),
    ].join('\n');
  } finally {
    await shop.stop();
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = options();
  const started = performance.now();
  const where = placement(opts.pin);
  const nproc = execFileSync('nproc').toString().trim();
  const cpus = os.cpus();
  const header = [
    `Node ${process.version}, nproc ${nproc}, ${cpus[0]?.model.trim() ?? 'unknown CPU'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    where.pinned
      ? 'pinned with taskset: each gateway alone on core 0; subgraphs and load generator on core 1'
      : `not pinned (${where.reason}): every process on any core`,
  ];
  log(header.join('\n'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gateway-'));
  let stopping = false;
  const cleanup = async () => {
    await Promise.all([...running].map((proc) => proc.stop(5000)));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // Ctrl-C may arrive twice (from the terminal and relayed by `tsx`): the first one stops everything.
  const interrupted = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping every process`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  // Whatever ends this process, nothing it started outlives it.
  process.once('exit', () => {
    killAllNow();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const sections: string[] = [];
  try {
    const load = launch('load generator', 'bench/load-generator.ts', [], { where, core: 1 });
    const bench: Bench = { load, warmup: opts.warmup, seconds: opts.seconds };
    if (opts.sections.has('guild')) sections.push(await guildSection(opts, where, bench, dir));
    if (opts.sections.has('shop')) sections.push(await shopSection(opts, where, bench, dir));
  } finally {
    await cleanup();
  }
  const took = `run took ${((performance.now() - started) / 1000).toFixed(0)} s; load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`;
  const profiles = opts.profileDir === undefined ? [] : [`CPU profiles, written as each gateway stopped: ${opts.profileDir}/<section>-<variant>-<round>/*.cpuprofile`];
  process.stdout.write(`\n${[...header, '', sections.join('\n\n'), '', took, ...profiles].join('\n')}\n`);
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
