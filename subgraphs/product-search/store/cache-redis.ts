import type Redis from 'ioredis';
import type { Logger } from '../../../platform/logger';
import { quitRedis, redisConnection } from '../../../platform/redis';
import {
  DEFAULT_PRODUCT_CACHE_TTL_SECONDS,
  decodeProduct,
  encodeProduct,
  productVersion,
  type ProductCache,
  type ProductCacheOptions,
} from './cache';
import type { ProductRecord } from './port';

export interface RedisProductCacheOptions extends ProductCacheOptions {
  /** redis:// or rediss:// URL of the server. */
  url: string;
  logger: Logger;
  /** Key prefix; default `{product-cache}` (a hash tag: one MGET reaches every key on a cluster). */
  prefix?: string;
  /** Longest a cache command may take before the caller reads the catalog instead, in ms; default 100. */
  timeoutMs?: number;
}

export const DEFAULT_PRODUCT_CACHE_TIMEOUT_MS = 100;

/**
 * KEYS: entry keys. ARGV[1]: time to live in ms; ARGV[1 + i]: the text of KEYS[i],
 * `<version>|<product JSON>`, or `<version>|` for a tombstone. Writes each entry unless its
 * key holds a newer version; comparing and writing in one script, no writer can slip between.
 */
const SET_UNLESS_NEWER = `
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do
  local text = ARGV[i + 1]
  local version = tonumber(string.match(text, '^(-?%d+)|'))
  local current = redis.call('GET', key)
  local held = current and tonumber(string.match(current, '^(-?%d+)|'))
  if not held or held <= version then redis.call('SET', key, text, 'PX', ttl) end
end
return #KEYS`;

interface ProductCacheCommands {
  setUnlessNewer(numberOfKeys: number, ...args: (string | number)[]): Promise<number>;
}

/**
 * The production product cache: Redis, shared by every replica. Commands never queue while
 * the server is away (the offline queue is off) and give up after `timeoutMs`, so an outage
 * costs a request a failed cache call, not a wait; the caller reads the catalog instead.
 */
export function redisProductCache(options: RedisProductCacheOptions): ProductCache {
  const prefix = options.prefix ?? '{product-cache}';
  const ttlMs = (options.ttlSeconds ?? DEFAULT_PRODUCT_CACHE_TTL_SECONDS) * 1000;
  const redis = redisConnection(options.url, 'product-cache', options.logger, 'product-cache', {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.timeoutMs ?? DEFAULT_PRODUCT_CACHE_TIMEOUT_MS,
  }) as Redis & ProductCacheCommands;
  redis.defineCommand('setUnlessNewer', { lua: SET_UNLESS_NEWER });
  const key = (id: string) => `${prefix}:product:${id}`;
  const write = async (entries: readonly { id: string; text: string }[]) => {
    if (entries.length === 0) return;
    await redis.setUnlessNewer(entries.length, ...entries.map((e) => key(e.id)), ttlMs, ...entries.map((e) => e.text));
  };
  return {
    scope: 'shared',
    async getMany(ids) {
      const found = new Map<string, ProductRecord>();
      if (ids.length === 0) return found;
      const texts = await redis.mget(ids.map(key));
      texts.forEach((text, i) => {
        const json = text?.slice(text.indexOf('|') + 1);
        const product = json ? decodeProduct(json) : null;
        if (product) found.set(ids[i]!, product);
      });
      return found;
    },
    setMany: (products) => write(products.map((p) => ({ id: p.id, text: `${productVersion(p)}|${encodeProduct(p)}` }))),
    invalidate: (list) => write(list.map(({ id, version }) => ({ id, text: `${version}|` }))),
    ready: () => redis.ping().then((reply) => reply === 'PONG', () => false),
    close: () => quitRedis(redis),
  };
}
