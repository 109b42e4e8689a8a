import type { Logger } from '../../platform/logger';
import { stockTopic, type PubSub } from '../../platform/pubsub';
import { liveMessages } from '../../platform/subscriptions';
import type { ProductModel } from './mappers';

/** What is published on a product's stock topic: the product reference, nothing to go stale. */
interface StockChangedMessage {
  id: string;
}

/**
 * Stock changes as they commit, per product, over the process's pub/sub: any replica
 * that changes stock announces it, and subscribers on every replica hear it. A message
 * carries only the product id; subscribers read the new level when they resolve it.
 */
export class StockFeed {
  private readonly log: Logger;

  constructor(
    private readonly pubsub: () => Promise<PubSub>,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'stock-feed' });
  }

  /**
   * Announces that the products' stock changed; called after the change commits. Never
   * throws: the change has happened, and a lost live update only delays what a watcher sees.
   */
  async changed(productIds: Iterable<string>): Promise<void> {
    const ids = [...new Set(productIds)];
    if (ids.length === 0) return;
    try {
      const pubsub = await this.pubsub();
      await Promise.all(ids.map((id) => pubsub.publish(stockTopic(id), { id } satisfies StockChangedMessage)));
    } catch (err) {
      this.log.warn({ err, products: ids.length }, 'stock change not announced to live subscribers');
    }
  }

  /** The product each time its stock changes from now on; resolves once changes made on any replica reach it. */
  async watch(productId: string): Promise<AsyncIterableIterator<ProductModel>> {
    const subscription = (await this.pubsub()).subscribe(stockTopic(productId));
    try {
      await subscription.listening;
    } catch (error) {
      await subscription.return();
      throw error;
    }
    return liveMessages(subscription, (message) => {
      const id = (message as Partial<StockChangedMessage> | null)?.id;
      return id === productId ? { id } : undefined;
    });
  }
}
