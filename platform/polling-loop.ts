export interface PollingLoopOptions {
  /** One pass over what waits: resolves with how many items went out, rejects when it failed. */
  pass: () => Promise<number>;
  /** How soon to look again after a pass that delivered something, and the first pause after a failure, in ms. */
  pollMs: number;
  /**
   * Longest pause between looks while nothing waits, in ms: each empty look doubles the pause
   * from `pollMs` up to this, and `notify` brings it back. Default 5000 (never below `pollMs`).
   */
  idlePollMs?: number;
  /** Longest pause while passes keep failing, in ms: each failure in a row doubles it from `pollMs`; default `pollMs` (no growth). */
  retryMaxMs?: number;
  /**
   * Whether `notify` looks at once while passes are failing (`true`), or leaves the retry's
   * pause as it is (`false`, the default). A relay whose failing end is the store the notifying
   * write just went to looks at once: that write proves the store answers again.
   */
  notifyEndsRetryPause?: boolean;
  /** Called after each failed pass, with how many passes have failed in a row. */
  onFailure?: (error: unknown, failuresInARow: number) => void;
  /** Called after the first pass that worked after `failures` failed ones. */
  onRecovery?: (failures: number) => void;
}

/**
 * The loop of a relay: one pass at a time, run at once when told (`notify`) and on a timer
 * otherwise. After a pass that delivered something it looks again soon; while nothing waits it
 * looks less and less often; after failures it pauses longer each time. A `notify` during a
 * pass runs another pass right after it, so a write is never left for the timer.
 */
export class PollingLoop {
  private readonly pollMs: number;
  private readonly idlePollMs: number;
  private readonly retryMaxMs: number;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  /** Not looking on its own: before `start` and after `stop`. */
  private stopped = true;
  /** `stop` was called, and `start` not since. */
  private stopRequested = false;
  /** Failed passes in a row; 0 while passes work. */
  private failures = 0;
  /** The pause before the next look while nothing is found waiting. */
  private idleMs: number;

  constructor(private readonly options: PollingLoopOptions) {
    this.pollMs = options.pollMs;
    this.idlePollMs = Math.max(options.idlePollMs ?? 5000, this.pollMs);
    this.retryMaxMs = Math.max(options.retryMaxMs ?? this.pollMs, this.pollMs);
    this.idleMs = this.pollMs;
  }

  /** Whether `stop` was called since the last `start`: a pass under way should end after its batch. */
  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Starts looking at once: whatever was written while nothing looked goes out first. */
  start(): void {
    this.stopped = false;
    this.stopRequested = false;
    this.idleMs = this.pollMs;
    this.schedule(0);
  }

  /** Look soon: called after a write that left something waiting commits. */
  notify(): void {
    if (this.stopped) return;
    this.idleMs = this.pollMs;
    if (this.ticking) this.again = true;
    else if (this.failures === 0 || this.options.notifyEndsRetryPause) this.schedule(0);
  }

  /** Stops looking; a pass under way finishes first. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopRequested = true;
    clearTimeout(this.timer);
    await this.ticking;
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.ticking) return;
    let delivered = 0;
    let failed = false;
    this.ticking = (async () => {
      do {
        this.again = false;
        try {
          delivered += await this.options.pass();
          if (this.failures > 0) this.options.onRecovery?.(this.failures);
          this.failures = 0;
        } catch (error) {
          failed = true;
          this.failures += 1;
          this.options.onFailure?.(error, this.failures);
        }
      } while (this.again && !failed && !this.stopped);
    })();
    await this.ticking;
    this.ticking = undefined;
    if (this.stopped) return;
    if (failed) {
      this.schedule(Math.min(this.pollMs * 2 ** (this.failures - 1), this.retryMaxMs));
    } else if (delivered > 0) {
      this.idleMs = this.pollMs;
      this.schedule(this.pollMs);
    } else {
      // Nothing waiting: look less and less often while nothing is written.
      this.schedule(this.idleMs);
      this.idleMs = Math.min(this.idleMs * 2, this.idlePollMs);
    }
  }
}
