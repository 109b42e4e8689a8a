import type { Logger } from '../../platform/logger';
import { isStoreUnavailable } from '../../platform/store-unavailable';
import type { Worker } from '../../platform/subgraph';
import type { CatalogIndexOutbox, ProductSearchIndex } from './store/port';

export interface CatalogIndexRelayOptions {
  /** Where catalog writes record the products they changed (the catalog itself). */
  outbox: CatalogIndexOutbox;
  /** The search index kept apart from the catalog that the changed products are delivered to. */
  index: Pick<ProductSearchIndex, 'indexProducts'>;
  logger: Logger;
  /** How soon to look again after a delivery, and the first pause after a failure, in ms; default 250. */
  pollMs?: number;
  /**
   * Longest pause between looks while the outbox stays empty, in ms: each empty look doubles the
   * pause from `pollMs` up to this, and `notify` brings it back. Writes in this process notify at
   * once, so the pause only delays what another replica wrote and could not deliver itself.
   * Default 5000 (never below `pollMs`).
   */
  idlePollMs?: number;
  /** Longest pause between attempts while delivery keeps failing, in ms: each failure doubles it from `pollMs`; default 30000. */
  retryMaxMs?: number;
  /** Products handed to the index at once; default 500. */
  batchSize?: number;
}

/**
 * Delivers the catalog's index outbox to a search index kept apart from the catalog
 * (Elasticsearch): reads the products written since the index last confirmed them, hands them
 * to `indexProducts` in batches, then confirms them in the outbox. A failed delivery stays in
 * the outbox and is tried again, sooner after a first failure and less often while it lasts,
 * until it lands: at least once. A crash between delivery and confirmation, or two replicas
 * relaying at once, delivers a product again, and a write while a batch is out leaves the
 * product pending for its newer version; the index keeps the higher version of each product,
 * so none of it changes the result.
 */
export class CatalogIndexRelay implements Worker {
  readonly name = 'catalog-index-relay';
  private readonly pollMs: number;
  private readonly idlePollMs: number;
  private readonly retryMaxMs: number;
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | undefined;
  /** The delivery under way; `flush` and the timer share it rather than delivering the same batch twice. */
  private delivery: Promise<number> | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  /** Not looking on its own: before `start` and after `stop`. */
  private stopped = true;
  /** `stop` was called: a delivery under way ends after its batch. */
  private stopping = false;
  /** Failed attempts in a row; 0 while deliveries land. */
  private failures = 0;
  /** The pause before the next look while the outbox is found empty. */
  private idleMs: number;

  constructor(private readonly options: CatalogIndexRelayOptions) {
    this.pollMs = options.pollMs ?? 250;
    this.idlePollMs = Math.max(options.idlePollMs ?? 5000, this.pollMs);
    this.retryMaxMs = Math.max(options.retryMaxMs ?? 30_000, this.pollMs);
    this.batchSize = options.batchSize ?? 500;
    this.idleMs = this.pollMs;
  }

  /** Starts looking at once: whatever was written while no relay ran goes out first. */
  start(): void {
    this.stopped = false;
    this.stopping = false;
    this.idleMs = this.pollMs;
    this.schedule(0);
  }

  /** Deliver soon: called after a catalog write commits. While deliveries fail, the retry's pause holds. */
  notify(): void {
    if (this.stopped) return;
    this.idleMs = this.pollMs;
    if (this.ticking) this.again = true;
    else if (this.failures === 0) this.schedule(0);
  }

  /**
   * Delivers everything waiting now, batch after batch, and resolves with how many products
   * went out; rejects when a delivery fails (what did not land stays waiting). A delivery
   * already under way is waited for first, since it may have looked before the caller's write.
   */
  async flush(): Promise<number> {
    await this.delivery?.catch(() => 0);
    return this.deliver();
  }

  /** Stops looking; a batch being delivered finishes first. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping = true;
    clearTimeout(this.timer);
    await this.ticking;
    await this.delivery?.catch(() => 0);
  }

  private deliver(): Promise<number> {
    return (this.delivery ??= this.deliverWaiting().finally(() => (this.delivery = undefined)));
  }

  private async deliverWaiting(): Promise<number> {
    const { outbox, index } = this.options;
    let total = 0;
    for (;;) {
      const products = await outbox.pendingIndexChanges(this.batchSize);
      if (products.length === 0) return total;
      await index.indexProducts(products);
      await outbox.markIndexed(products.map((p) => ({ id: p.id, version: p.version })));
      total += products.length;
      // Stops between batches once stopping, so nothing runs after `stop` resolves.
      if (products.length < this.batchSize || this.stopping) return total;
    }
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
          delivered += await this.deliver();
          if (this.failures > 0) this.options.logger.info({ attempts: this.failures + 1 }, 'catalog index relay: changes reach the search index again');
          this.failures = 0;
        } catch (err) {
          failed = true;
          this.failures += 1;
          // An outage is said once, when it starts, not on every attempt while it lasts.
          if (this.failures === 1) {
            const message = 'catalog index relay: cannot deliver changed products to the search index; will retry';
            if (isStoreUnavailable(err)) this.options.logger.warn({ err }, message);
            else this.options.logger.error({ err }, message);
          }
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
