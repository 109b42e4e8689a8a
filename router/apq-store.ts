/**
 * Where the router keeps the texts of automatic persisted queries (APQ) between requests:
 * in Redis when the router has one, shared by every replica, or in a bounded in-process LRU.
 * A store that cannot answer is a miss: the client sends the full text and the request runs.
 */
import type Redis from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../platform/logger';
import { quitRedis } from '../platform/redis';

/** Registered APQ texts by their SHA-256 hex. */
export interface ApqStore {
  /** The text registered under `id`, or undefined (unknown, expired, or the store is unavailable). */
  get(id: string): Promise<string | undefined>;
  /** Registers `text` under `id` for the store's time to live. */
  set(id: string, text: string): Promise<void>;
  close(): Promise<void>;
}

export interface MemoryApqOptions {
  /** Bytes of texts kept, least recently used dropped first; default 16 MiB. */
  maxBytes?: number;
  /** How long a text is kept after it is registered, in seconds; default 86400. */
  ttlSeconds?: number;
}

/** APQ texts in this process only: each replica learns each text from its clients. */
export function memoryApqStore(options: MemoryApqOptions = {}): ApqStore {
  const texts = new LRUCache<string, string>({
    maxSize: options.maxBytes ?? 16 * 1024 * 1024,
    sizeCalculation: (text, id) => Buffer.byteLength(text) + id.length,
    ttl: (options.ttlSeconds ?? 86_400) * 1000,
  });
  return {
    get: async (id) => texts.get(id),
    set: async (id, text) => void texts.set(id, text),
    close: async () => texts.clear(),
  };
}

export interface RedisApqOptions {
  /** Prefix of the keys (`<prefix>:apq:<id>`), so several shops can share one Redis. */
  keyPrefix: string;
  /** How long a text is kept after it is registered, in seconds; default 86400. */
  ttlSeconds?: number;
  /** Longest a lookup or registration may take before it counts as a miss, in ms; default 250. */
  timeoutMs?: number;
  logger: Logger;
}

/** APQ texts in Redis with a TTL: registered on one replica, found on every other. The store owns the connection. */
export function redisApqStore(redis: Redis, options: RedisApqOptions): ApqStore {
  const ttl = options.ttlSeconds ?? 86_400;
  const timeoutMs = options.timeoutMs ?? 250;
  const key = (id: string) => `${options.keyPrefix}:apq:${id}`;
  // A Redis that is down must not hold requests: ioredis queues commands while it reconnects.
  const within = <T>(work: Promise<T>, what: string): Promise<T | undefined> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        options.logger.warn({ what }, 'APQ store did not answer in time');
        resolve(undefined);
      }, timeoutMs);
      work.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          options.logger.warn({ err, what }, 'APQ store failed');
          resolve(undefined);
        },
      );
    });
  return {
    get: async (id) => (await within(redis.get(key(id)), 'get')) ?? undefined,
    set: async (id, text) => void (await within(redis.set(key(id), text, 'EX', ttl), 'set')),
    close: () => quitRedis(redis),
  };
}
