import type { Logger } from './logger';
import type { Worker } from './subgraph';

/**
 * A worker that runs `task` `firstDelayMs` after it starts (default at once) and then every
 * `intervalMs` after the previous run finished (runs never overlap). A failed run is logged
 * and tried again next time; `stop` waits for a run in progress.
 */
export function periodicWorker(name: string, intervalMs: number, task: () => Promise<unknown>, logger: Logger, firstDelayMs = 0): Worker {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;
  const schedule = (delay: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => void tick(), delay);
    timer.unref?.();
  };
  const tick = async () => {
    if (stopped) return;
    running = task().then(
      () => undefined,
      (err: unknown) => logger.error({ err, worker: name }, 'periodic task failed; will retry'),
    );
    await running;
    running = undefined;
    if (!stopped) schedule(intervalMs);
  };
  return {
    name,
    start: () => {
      stopped = false;
      schedule(firstDelayMs);
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/**
 * The timers of a long-lived object (a revocation list, a key cache): one-off delays and
 * repeated tasks, none of them holding the process open, all cleared at once on close.
 * A repeated task runs again `ms` after the previous run finished; a failure is logged.
 */
export class Timers {
  private readonly pending = new Set<NodeJS.Timeout>();
  private cleared = false;

  constructor(private readonly logger: Logger) {}

  /** Runs `fn` once after `ms`, unless cleared first. */
  after(ms: number, fn: () => void): void {
    if (this.cleared) return;
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.pending.add(timer);
  }

  /** Runs `task` every `ms`, each run after the previous one finished; `what` names it in the log. */
  every(ms: number, what: string, task: () => Promise<unknown>): void {
    const run = () =>
      void task()
        .catch((err: unknown) => this.logger.warn({ err, task: what }, 'periodic task failed; will retry'))
        .finally(() => this.after(ms, run));
    this.after(ms, run);
  }

  /** Cancels everything pending; nothing is scheduled afterwards. */
  clear(): void {
    this.cleared = true;
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
  }
}
