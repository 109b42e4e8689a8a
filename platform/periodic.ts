import type { Logger } from './logger';
import type { Worker } from './subgraph';

/**
 * A worker that runs `task` once it starts and then every `intervalMs` after the previous
 * run finished (runs never overlap). A failed run is logged and tried again next time;
 * `stop` waits for a run in progress.
 */
export function periodicWorker(name: string, intervalMs: number, task: () => Promise<unknown>, logger: Logger): Worker {
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
      schedule(0);
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
