import type { Logger } from '../../platform/logger';
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
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly reservations: ReservationService,
    private readonly options: ReservationSweeperOptions,
  ) {}

  start(): void {
    this.stopped = false;
    // Sweep at once: after a restart, reservations that expired meanwhile return first.
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.running = this.reservations.expireDue().then(
      () => undefined,
      (err: unknown) => this.options.logger.error({ err }, 'reservation sweep failed; will retry'),
    );
    await this.running;
    this.running = undefined;
    if (!this.stopped) this.schedule(this.options.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
  }
}
