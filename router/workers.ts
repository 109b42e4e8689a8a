/**
 * ROUTER_WORKERS: the router as several processes on one port (node:cluster). The
 * primary serves nothing itself: it forks the workers, restarts one that dies (with a
 * backoff), relays SIGHUP to them, and on SIGTERM or SIGINT stops them all, exactly once,
 * each draining as a single router would. Every worker listens on the same port (the
 * primary holds the socket and hands connections round-robin), HTTP and WebSocket alike,
 * each with its own graphql-ws server.
 *
 * `/metrics` on any worker reports the whole router: the worker asks the primary, which
 * collects every listening worker's registry over the cluster's IPC channel and sums the
 * series with prom-client's `AggregatorRegistry.aggregate` (counters and histograms
 * summed, as prom-client's cluster mode does). A restarted worker starts its counters at
 * zero again, which Prometheus reads as a counter reset.
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../platform/config';
import type { Logger } from '../platform/logger';
import { runProcess, type StopTrigger } from '../platform/main';
import { metricsRegistry, serveMetricsFrom, type MetricsText } from '../platform/metrics';

type Start = (config: Config, logger: Logger) => Promise<{ stop(): Promise<void> }>;

/** Messages between the primary and its workers. */
type Message =
  | { kind: 'router:stop' }
  /** A worker asks for the whole router's metrics. */
  | { kind: 'router:metrics'; id: number }
  | { kind: 'router:metrics-text'; id: number; text?: MetricsText; error?: string }
  /** The primary asks a worker for its own registry, and its answer. */
  | { kind: 'router:metrics-collect'; id: number }
  | { kind: 'router:metrics-local'; id: number; metrics: object[] };

/** How long the primary waits for one worker's metrics, in ms; a worker that does not answer is left out. */
const COLLECT_TIMEOUT_MS = 3000;
/** First and longest pause before a dead worker is forked again, in ms. */
const RESTART_FIRST_MS = 250;
const RESTART_LONGEST_MS = 10_000;
/** A worker that ran this long before dying is restarted after the first pause again, in ms. */
const RESTART_RESET_AFTER_MS = 30_000;

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string';
}

/**
 * Runs the router program: in one process when ROUTER_WORKERS is 1, else as a cluster
 * primary over that many workers, each of which runs `start`.
 */
export function runRouter(start: Start): void {
  if (cluster.isWorker) {
    serveWorkerMetrics();
    void runProcess('router', start, workerStopTrigger);
    return;
  }
  void runProcess('router', (config, logger) => (config.ROUTER_WORKERS > 1 ? startPrimary(config, logger) : start(config, logger)));
}

/** Headers a worker sets on its responses: which worker answered (its number, not its pid); none outside a cluster. */
export function workerResponseHeaders(): Record<string, string> | undefined {
  return cluster.isWorker && cluster.worker ? { 'x-router-worker': String(cluster.worker.id) } : undefined;
}

/**
 * A worker stops when its primary says so or is gone (its IPC channel closed), or on its
 * own SIGTERM; once, however many of these arrive. Ctrl-C reaches the whole process group:
 * the primary stops the workers, so a worker ignores SIGINT itself. SIGHUP, relayed by the
 * primary (and sent to the group by a closing terminal), must not end a worker.
 */
const workerStopTrigger: StopTrigger = (stop) => {
  let asked = false;
  const once = (reason: string) => {
    if (asked) return;
    asked = true;
    stop(reason);
  };
  process.on('message', (message: unknown) => {
    if (isMessage(message) && message.kind === 'router:stop') once('primary');
  });
  process.on('disconnect', () => once('primary gone'));
  process.on('SIGTERM', () => once('SIGTERM'));
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
};

/** In a worker: `/metrics` asks the primary for the whole router's; the primary's collection is answered from this process's registry. */
function serveWorkerMetrics(): void {
  const waiting = new Map<number, (answer: Extract<Message, { kind: 'router:metrics-text' }>) => void>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.kind === 'router:metrics-text') waiting.get(message.id)?.(message);
    if (message.kind === 'router:metrics-collect') {
      void metricsRegistry.getMetricsAsJSON().then((metrics) => send({ kind: 'router:metrics-local', id: message.id, metrics }));
    }
  });
  serveMetricsFrom(
    () =>
      new Promise<MetricsText>((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('the router primary did not answer with metrics'));
        }, COLLECT_TIMEOUT_MS * 2);
        waiting.set(id, (answer) => {
          clearTimeout(timer);
          waiting.delete(id);
          if (answer.text) resolve(answer.text);
          else reject(new Error(answer.error ?? 'router metrics unavailable'));
        });
        send({ kind: 'router:metrics', id });
      }),
  );
}

function send(message: Message): void {
  process.send?.(message);
}

/**
 * The cluster primary: forks `ROUTER_WORKERS` workers and resolves once all of them
 * listen; a worker that exits before any has listened fails the start (a bad port, a
 * supergraph that does not load). Its `stop` stops every worker and waits for them.
 */
async function startPrimary(config: Config, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const log = logger.child({ component: 'router-workers' });
  const count = config.ROUTER_WORKERS;
  const listening = new Set<number>();
  const startedAt = new Map<number, number>();
  const restarts = new Set<NodeJS.Timeout>();
  let failures = 0;
  let stopping = false;
  let everListened = false;
  let nextCollect = 0;
  const collecting = new Map<number, Map<number, (metrics: object[]) => void>>();

  const workers = () => Object.values(cluster.workers ?? {}).filter((w): w is ClusterWorker => w !== undefined);

  /** One worker's own metrics, or undefined when it does not answer in time. */
  const collect = (worker: ClusterWorker, id: number) =>
    new Promise<object[] | undefined>((resolve) => {
      const timer = setTimeout(() => {
        collecting.get(id)?.delete(worker.id);
        resolve(undefined);
      }, COLLECT_TIMEOUT_MS);
      collecting.get(id)!.set(worker.id, (metrics) => {
        clearTimeout(timer);
        resolve(metrics);
      });
      worker.send({ kind: 'router:metrics-collect', id } satisfies Message);
    });

  const routerMetrics = async (): Promise<MetricsText> => {
    const id = nextCollect++;
    collecting.set(id, new Map());
    try {
      const live = workers().filter((w) => listening.has(w.id) && w.isConnected());
      const answers = (await Promise.all(live.map((w) => collect(w, id)))).filter((m): m is object[] => m !== undefined);
      if (answers.length < live.length) log.warn({ answered: answers.length, workers: live.length }, 'metrics: some router workers did not answer');
      const registry = AggregatorRegistry.aggregate(answers);
      return { contentType: registry.contentType, body: await registry.metrics() };
    } finally {
      collecting.delete(id);
    }
  };

  const onMessage = (worker: ClusterWorker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.kind === 'router:metrics-local') collecting.get(message.id)?.get(worker.id)?.(message.metrics);
    if (message.kind === 'router:metrics') {
      const reply = (answer: Message) => worker.isConnected() && worker.send(answer);
      routerMetrics().then(
        (text) => reply({ kind: 'router:metrics-text', id: message.id, text }),
        (error: Error) => reply({ kind: 'router:metrics-text', id: message.id, error: error.message }),
      );
    }
  };

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
    worker.on('message', (message: unknown) => onMessage(worker, message));
    log.info({ worker: worker.id, pid: worker.process.pid }, 'router worker started');
  };

  let allListening!: (url: string) => void;
  let failedStart!: (error: Error) => void;
  const started = new Promise<string>((resolve, reject) => {
    allListening = resolve;
    failedStart = reject;
  });

  cluster.on('listening', (worker, address: AddressInfo & { addressType?: number | string }) => {
    listening.add(worker.id);
    if (everListened && listening.size < count) return;
    if (!everListened && listening.size === count) {
      everListened = true;
      const host = address.address === '0.0.0.0' || address.address === '::' || !address.address ? '127.0.0.1' : address.address;
      allListening(`http://${host.includes(':') ? `[${host}]` : host}:${address.port}/graphql`);
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    const ran = Date.now() - (startedAt.get(worker.id) ?? Date.now());
    startedAt.delete(worker.id);
    if (stopping) return;
    if (!everListened) {
      failedStart(new Error(`router worker ${worker.id} exited (code ${code}, signal ${signal}) before the router listened`));
      return;
    }
    failures = ran >= RESTART_RESET_AFTER_MS ? 0 : failures + 1;
    const delay = Math.min(RESTART_FIRST_MS * 2 ** Math.max(failures - 1, 0), RESTART_LONGEST_MS);
    log.warn({ worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delay }, 'router worker exited; starting another');
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (!stopping) fork();
    }, delay);
    restarts.add(timer);
  });

  // A reload (the persisted query manifest) is every worker's to do.
  process.on('SIGHUP', () => {
    for (const worker of workers()) worker.process.kill('SIGHUP');
  });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      for (const timer of restarts) clearTimeout(timer);
      const running = workers().filter((w) => w.process.exitCode === null && w.process.signalCode === null);
      const exited = running.map((w) => new Promise<void>((resolve) => w.process.once('exit', () => resolve())));
      for (const worker of running) {
        if (worker.isConnected()) worker.send({ kind: 'router:stop' } satisfies Message);
        else worker.process.kill('SIGTERM');
      }
      // Each worker waits SHUTDOWN_GRACE_MS for its requests; one stuck past that is killed.
      const timer = setTimeout(() => {
        for (const worker of running) worker.process.kill('SIGKILL');
      }, config.SHUTDOWN_GRACE_MS + 5000);
      await Promise.all(exited);
      clearTimeout(timer);
      log.info({ workers: running.length }, 'router workers stopped');
    })());

  for (let i = 0; i < count; i++) fork();
  try {
    const url = await started;
    log.info({ url, workers: count, pids: workers().map((w) => w.process.pid) }, 'all router workers listening');
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}
