import type { Logger } from '../../platform/logger';
import { PollingLoop } from '../../platform/polling-loop';
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
  private readonly batchSize: number;
  /** The delivery under way; `flush` and the loop share it rather than delivering the same batch twice. */
  private delivery: Promise<number> | undefined;
  private readonly loop: PollingLoop;

  constructor(private readonly options: CatalogIndexRelayOptions) {
    const pollMs = options.pollMs ?? 250;
    this.batchSize = options.batchSize ?? 500;
    this.loop = new PollingLoop({
      pass: () => this.deliver(),
      pollMs,
      idlePollMs: options.idlePollMs ?? 5000,
      retryMaxMs: options.retryMaxMs ?? 30_000,
      // A catalog write says nothing of the index: while deliveries fail, the retry's pause holds.
      notifyEndsRetryPause: false,
      onFailure: (err, failures) => {
        // An outage is said once, when it starts, not on every attempt while it lasts.
        if (failures > 1) return;
        const message = 'catalog index relay: cannot deliver changed products to the search index; will retry';
        if (isStoreUnavailable(err)) this.options.logger.warn({ err }, message);
        else this.options.logger.error({ err }, message);
      },
      onRecovery: (failures) =>
        this.options.logger.info({ attempts: failures + 1 }, 'catalog index relay: changes reach the search index again'),
    });
  }

  /** Starts looking at once: whatever was written while no relay ran goes out first. */
  start(): void {
    this.loop.start();
  }

  /** Deliver soon: called after a catalog write commits. While deliveries fail, the retry's pause holds. */
  notify(): void {
    this.loop.notify();
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
    await this.loop.stop();
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
      if (products.length < this.batchSize || this.loop.stopping) return total;
    }
  }
}
