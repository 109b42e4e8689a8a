import type { Config } from '../config';
import type { EventBus } from '../events';
import type { Logger } from '../logger';
import { InProcessEventBus } from './in-process';
import { RedisStreamsEventBus } from './redis-streams';

/**
 * The process's event bus: Redis Streams when REDIS_URL is set, so replicas and separate
 * subgraph processes share events; otherwise in-process, for the one-process shop.
 */
export function openEventBus(
  config: Pick<Config, 'REDIS_URL' | 'EVENT_STREAM_PREFIX' | 'EVENT_RECLAIM_IDLE_MS'>,
  logger: Logger,
): EventBus {
  const log = logger.child({ component: 'event-bus' });
  if (config.REDIS_URL) {
    return new RedisStreamsEventBus({
      url: config.REDIS_URL,
      prefix: config.EVENT_STREAM_PREFIX,
      reclaimIdleMs: config.EVENT_RECLAIM_IDLE_MS,
      logger: log,
    });
  }
  return new InProcessEventBus(log);
}

export { InProcessEventBus } from './in-process';
export { RedisStreamsEventBus, type RedisStreamsEventBusOptions } from './redis-streams';
