/** What every Redis connection of a process needs: errors logged without flooding, and a bounded quit. */
import Redis, { type RedisOptions } from 'ioredis';
import type { Logger } from './logger';

/** How often one connection's errors are logged during an outage, at most. */
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * A connection to `url` (or a duplicate of `of`) named `name` in CLIENT LIST. ioredis prints
 * an error event that has no listener; here each connection logs, once per interval, and
 * reconnects as ioredis does.
 */
export function redisConnection(
  source: string | Redis,
  name: string,
  logger: Logger,
  role: string,
  /** More ioredis options (timeouts, offline queue); default none. */
  options: RedisOptions = {},
): Redis {
  const connection =
    typeof source === 'string' ? new Redis(source, { ...options, connectionName: name }) : source.duplicate({ ...options, connectionName: name });
  let lastLogged = 0;
  connection.on('error', (err: Error) => {
    if (Date.now() - lastLogged < ERROR_LOG_INTERVAL_MS) return;
    lastLogged = Date.now();
    logger.warn({ err, role }, 'redis connection error');
  });
  return connection;
}

/** QUIT waits for replies to earlier commands; a server that does not answer within a second is cut off. */
export async function quitRedis(connection: Redis): Promise<void> {
  if (connection.status === 'ready') {
    await Promise.race([connection.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
  }
  connection.disconnect();
}
