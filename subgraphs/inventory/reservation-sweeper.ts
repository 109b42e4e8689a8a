import type { Logger } from '../../platform/logger';
import { PollingLoop } from '../../platform/polling-loop';
import type { Worker } from '../../platform/subgraph';
import type { ReservationService } from './reservation-service';

/** Default pause between sweeps, in ms. */
export const DEFAULT_SWEEP_INTERVAL_MS = 5000;

export interface ReservationSweeperOptions {
  /** Pause between sweeps, in ms; default 5000. */
  intervalMs?: number;
  logger: Logger;
}

/**
 * Releases unpaid reservations past their expiry, on start and then every interval.
 * Replicas may all sweep: each claims rows with SKIP LOCKED, so no reservation is
 * expired twice. A failed sweep is logged and tried again at the next interval.
 */
export class ReservationSweeper implements Worker {
  readonly name = 'reservation-sweeper';
  private readonly loop: PollingLoop;

  constructor(reservations: ReservationService, options: ReservationSweeperOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    this.loop = new PollingLoop({
      pass: () => reservations.expireDue(),
      // Every interval, whatever the last sweep found or however it failed.
      pollMs: intervalMs,
      idlePollMs: intervalMs,
      retryMaxMs: intervalMs,
      onFailure: (err) => options.logger.error({ err }, 'reservation sweep failed; will retry'),
    });
  }

  /** Sweeps at once: after a restart, reservations that expired meanwhile return first. */
  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
