import type { Config } from '../config';
import type { Logger } from '../logger';
import { InProcessPubSub } from './in-process';
import { ORDER_TOPIC_PREFIX, type PubSub, type PubSubOptions } from './port';
import { RedisPubSub } from './redis';

/**
 * The process's live-update pub/sub: Redis when REDIS_URL is set, so a change made on any
 * replica reaches subscribers on every replica; otherwise in-process, for the one-process shop.
 */
export function openPubSub(config: Pick<Config, 'REDIS_URL' | 'EVENT_STREAM_PREFIX'>, logger: Logger, options: PubSubOptions = {}): PubSub {
  const log = logger.child({ component: 'pubsub' });
  if (config.REDIS_URL) {
    // An order is watched from checkout until it is confirmed: a pattern subscription spares a SUBSCRIBE and UNSUBSCRIBE per order.
    return new RedisPubSub({
      ...options,
      url: config.REDIS_URL,
      prefix: `${config.EVENT_STREAM_PREFIX}:live:`,
      logger: log,
      sharedPrefixes: [ORDER_TOPIC_PREFIX],
    });
  }
  return new InProcessPubSub(log, options);
}

export { InProcessPubSub } from './in-process';
export { RedisPubSub, type RedisPubSubOptions } from './redis';
export {
  DEFAULT_BUFFER_SIZE,
  isProductInvalidation,
  orderTopic,
  PRODUCT_INVALIDATION_TOPIC,
  stockTopic,
  type LiveSubscription,
  type ProductInvalidation,
  type PubSub,
  type PubSubOptions,
} from './port';
