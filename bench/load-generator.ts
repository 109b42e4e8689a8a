/**
 * A closed-loop HTTP load generator in a process of its own, so that the clients' work is
 * not counted against (or competing on the event loop of) what is measured. The benchmark
 * starts it with an IPC channel and sends it one `LoadRun` at a time: `connections`
 * keep-alive connections (undici `Pool`) each send the same POST again as soon as the last
 * answer has been read, for `warmupSeconds` and then `seconds`. Only answers that arrive
 * within the measured window count; each one's latency is recorded. It reports
 * `{kind: 'measuring'}` when the window opens, `{kind: 'measured'}` when it closes (so CPU
 * can be sampled at both ends), then `{kind: 'result'}` with the figures.
 *
 *   node --import tsx bench/load-generator.ts      (started by a benchmark, not by hand)
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

/** One run of load. */
export interface LoadRun {
  kind: 'run';
  /** Where to POST, e.g. `http://127.0.0.1:39123/graphql`. */
  url: string;
  /** The request body, sent as is. */
  body: string;
  headers?: Record<string, string>;
  connections: number;
  warmupSeconds: number;
  seconds: number;
}

/** What a run measured, over its window only. */
export interface LoadResult {
  /** Answers that arrived in the window, good or not. */
  requests: number;
  /** Answers of the whole run: warm-up, window and the requests in flight at its end. */
  allRequests: number;
  /** Of those: not status 200, or with `errors` in the body, or failed at the HTTP level. */
  failures: number;
  /** The first failure's status and start of body, to say what went wrong. */
  firstFailure?: string;
  /** Length of the window, in seconds. */
  seconds: number;
  perSecond: number;
  /** Latency percentiles and mean of the answers in the window, in ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Response bytes per answer, on average. */
  bytes: number;
}

export type LoadMessage = { kind: 'measuring' } | { kind: 'measured' } | { kind: 'result'; result: LoadResult } | { kind: 'failed'; error: string };

/** The `q` quantile (0..1) of ascending `sorted`, nearest rank; 0 when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Figures of a window from its latencies (in any order, in ms). */
export function summarize(latencies: number[], failures: number, seconds: number, bytes: number): Omit<LoadResult, 'firstFailure' | 'allRequests'> {
  const sorted = Float64Array.from(latencies).sort();
  const total = latencies.reduce((sum, ms) => sum + ms, 0);
  return {
    requests: latencies.length,
    failures,
    seconds,
    perSecond: seconds > 0 ? latencies.length / seconds : 0,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : 0,
    mean: latencies.length ? total / latencies.length : 0,
    bytes: latencies.length ? bytes / latencies.length : 0,
  };
}

/** Runs one load and reports through `report`. */
export async function runLoad(run: LoadRun, report: (message: LoadMessage) => void): Promise<LoadResult> {
  const url = new URL(run.url);
  const pool = new Pool(url.origin, { connections: run.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const headers = { 'content-type': 'application/json', ...run.headers };
  const latencies: number[] = [];
  let failures = 0;
  let bytes = 0;
  let firstFailure: string | undefined;
  let measuring = false;
  let stopped = false;
  let allRequests = 0;
  const clients = Array.from({ length: run.connections }, async () => {
    while (!stopped) {
      const started = performance.now();
      let failed: string | undefined;
      let length = 0;
      try {
        const response = await pool.request({ path: url.pathname + url.search, method: 'POST', headers, body: run.body });
        const text = await response.body.text();
        length = text.length;
        // A correct answer has no `errors`; looking for the key is enough and costs the clients little.
        if (response.statusCode !== 200 || text.includes('"errors"')) failed = `${response.statusCode} ${text.slice(0, 300)}`;
      } catch (error) {
        failed = error instanceof Error ? error.message : String(error);
      }
      allRequests += 1;
      if (!measuring || stopped) continue;
      latencies.push(performance.now() - started);
      bytes += length;
      if (failed !== undefined) {
        failures += 1;
        firstFailure ??= failed;
      }
    }
  });
  await new Promise((resolve) => setTimeout(resolve, run.warmupSeconds * 1000));
  measuring = true;
  const opened = performance.now();
  report({ kind: 'measuring' });
  await new Promise((resolve) => setTimeout(resolve, run.seconds * 1000));
  stopped = true;
  const seconds = (performance.now() - opened) / 1000;
  report({ kind: 'measured' });
  // Requests in flight finish uncounted, so the server is idle before the next run.
  await Promise.all(clients);
  await pool.close();
  const result: LoadResult = { ...summarize(latencies, failures, seconds, bytes), allRequests, ...(firstFailure ? { firstFailure } : {}) };
  report({ kind: 'result', result });
  return result;
}

if (require.main === module) {
  if (!process.send) {
    process.stderr.write('bench/load-generator.ts is started by a benchmark over IPC\n');
    process.exit(1);
  }
  const send = (message: LoadMessage) => process.send?.(message);
  process.on('message', (message: LoadRun) => {
    if (message?.kind !== 'run') return;
    runLoad(message, send).catch((error: unknown) => send({ kind: 'failed', error: error instanceof Error ? error.message : String(error) }));
  });
  // Gone with the benchmark that started it.
  process.on('disconnect', () => process.exit(0));
}
