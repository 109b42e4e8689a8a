/**
 * Recommendations in Redis sorted sets, the production store of the design: co-purchase
 * weights per product, products per customer, units sold per product, and the two facts
 * an order event brings (who bought what, that it is confirmed).
 *
 * Weights are stored negated, so an ascending ZRANGE gives the heaviest first and breaks
 * ties by member in byte order, as the PostgreSQL adapter does (`collate "C"`). Every
 * operation is one round trip: a Lua script or a MULTI, so each is atomic and a concurrent
 * writer never loses an increment. Keys share a hash tag (`{recommendation}` by default),
 * so they live in one slot and the scripts may compute the key names they touch.
 */
import type Redis from 'ioredis';
import type { Logger } from '../../../platform/logger';
import { quitRedis, redisConnection } from '../../../platform/redis';
import { aggregatePurchases, type Purchase } from '../co-purchases';
import type { OrderNote, RecommendationStore } from './port';

export interface RedisRecommendationStoreOptions {
  url: string;
  logger: Logger;
  /** Key prefix; default `{recommendation}` (a hash tag: every key in one cluster slot). */
  prefix?: string;
  /**
   * How long a processed message, and the note of the order it concerns, are remembered after
   * its last event, in seconds (PROCESSED_MESSAGE_RETENTION_SECONDS); default a week. Redis
   * expires them.
   */
  retentionSeconds?: number;
}

/**
 * KEYS: none (names are built from ARGV[1], the prefix). ARGV: prefix, limit, product ids...
 * Returns, per product in order, its co-purchases heaviest first, up to `limit`.
 */
const BOUGHT_TOGETHER = `
local prefix, limit = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  out[#out + 1] = redis.call('ZRANGE', prefix .. ':co:' .. ARGV[i], 0, limit - 1)
end
return out`;

/**
 * ARGV: prefix, limit, customer ids... Returns, per customer in order, false when the
 * customer bought nothing, else the products bought with theirs and not by them, ranked by
 * summed weight (heaviest first, ties by id), up to \`limit\`.
 */
const FOR_CUSTOMERS = `
local prefix, limit = ARGV[1], tonumber(ARGV[2])
local scratch = prefix .. ':scratch'
local out = {}
for i = 3, #ARGV do
  local owned = redis.call('ZRANGE', prefix .. ':customer:' .. ARGV[i], 0, -1)
  if #owned == 0 then
    out[#out + 1] = false
  else
    -- In slices, so that no call unpacks more arguments than Lua's stack takes.
    for start = 1, #owned, 1000 do
      local sources = {}
      for j = start, math.min(start + 999, #owned) do sources[#sources + 1] = prefix .. ':co:' .. owned[j] end
      if start == 1 then
        redis.call('ZUNIONSTORE', scratch, #sources, unpack(sources))
      else
        redis.call('ZUNIONSTORE', scratch, #sources + 1, scratch, unpack(sources))
      end
    end
    for start = 1, #owned, 1000 do
      redis.call('ZREM', scratch, unpack(owned, start, math.min(start + 999, #owned)))
    end
    out[#out + 1] = redis.call('ZRANGE', scratch, 0, limit - 1)
    redis.call('DEL', scratch)
  end
end
return out`;

/**
 * ARGV: prefix, consumer, message id, kind ('placed' | 'confirmed'), order id, customer id,
 * product ids as JSON, retention in seconds. Marks the message processed, notes the fact, and
 * records the purchase once both facts are in and it was not recorded before. The message's
 * mark and the order's note expire after the retention (the note counted from its last change);
 * marks kept in the set earlier versions wrote are still read.
 */
const NOTE_ORDER_EVENT = `
local prefix, consumer, messageId, kind, orderId, retention = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[8]
local processed = prefix .. ':processed:' .. consumer
if redis.call('SISMEMBER', processed, messageId) == 1 then return 'duplicate' end
if not redis.call('SET', processed .. ':' .. messageId, '1', 'NX', 'EX', retention) then return 'duplicate' end
local order = prefix .. ':order:' .. orderId
local recorded = redis.call('HGET', order, 'recorded')
if recorded then return 'noted' end
if kind == 'placed' then
  redis.call('HSET', order, 'customer', ARGV[6], 'products', ARGV[7])
else
  redis.call('HSET', order, 'confirmed', '1')
end
redis.call('EXPIRE', order, retention)
local customer, products, confirmed = unpack(redis.call('HMGET', order, 'customer', 'products', 'confirmed'))
if not customer or not confirmed then return 'noted' end
redis.call('HSET', order, 'recorded', '1')
local seen, unique = {}, {}
for _, product in ipairs(cjson.decode(products)) do
  if not seen[product] then seen[product] = true; unique[#unique + 1] = product end
end
for _, product in ipairs(unique) do
  redis.call('ZINCRBY', prefix .. ':customer:' .. customer, 1, product)
  redis.call('ZINCRBY', prefix .. ':sold', -1, product)
  for _, other in ipairs(unique) do
    if other ~= product then redis.call('ZINCRBY', prefix .. ':co:' .. product, -1, other) end
  end
end
return 'recorded'`;

interface RecommendationCommands {
  boughtTogetherScript(...args: (string | number)[]): Promise<string[][]>;
  forCustomersScript(...args: (string | number)[]): Promise<(string[] | null)[]>;
  noteOrderEventScript(...args: (string | number)[]): Promise<'duplicate' | 'noted' | 'recorded'>;
}

export function redisRecommendationStore(options: RedisRecommendationStoreOptions): RecommendationStore {
  const prefix = options.prefix ?? '{recommendation}';
  const retentionSeconds = options.retentionSeconds ?? 604_800;
  const redis = redisConnection(options.url, 'recommendation', options.logger, 'recommendation-store') as Redis & RecommendationCommands;
  redis.defineCommand('boughtTogetherScript', { numberOfKeys: 0, lua: BOUGHT_TOGETHER });
  redis.defineCommand('forCustomersScript', { numberOfKeys: 0, lua: FOR_CUSTOMERS });
  redis.defineCommand('noteOrderEventScript', { numberOfKeys: 0, lua: NOTE_ORDER_EVENT });
  let statements = 0;
  let transactions = 0;
  /** One round trip to Redis, counted. */
  const send = <T>(work: Promise<T>): Promise<T> => {
    statements += 1;
    return work;
  };
  const key = (...parts: string[]) => [prefix, ...parts].join(':');

  const recordPurchases = async (purchases: readonly Purchase[]) => {
    const { pairs, customerProducts } = aggregatePurchases(purchases);
    const sold = new Map<string, number>();
    for (const { productId, quantity } of customerProducts) sold.set(productId, (sold.get(productId) ?? 0) + quantity);
    const commands: [string, number, string][] = [
      ...pairs.map(({ productId, otherProductId, weight }): [string, number, string] => [key('co', productId), -weight, otherProductId]),
      ...customerProducts.map(({ customerId, productId, quantity }): [string, number, string] => [key('customer', customerId), quantity, productId]),
      ...[...sold].map(([productId, units]): [string, number, string] => [key('sold'), -units, productId]),
    ];
    if (commands.length === 0) return;
    // One MULTI: all of it or none, as one PostgreSQL transaction.
    const multi = redis.multi();
    transactions += 1;
    for (const [target, by, member] of commands) multi.zincrby(target, by, member);
    const replies = await send(multi.exec());
    const failed = replies?.find(([error]) => error);
    if (!replies || failed) throw failed?.[0] ?? new Error('the recommendation update was not applied');
  };

  return {
    ready: () => redis.ping().then((reply) => reply === 'PONG', () => false),
    close: () => quitRedis(redis),
    statementCount: () => statements,
    transactionCount: () => transactions,

    recordPurchase: (customerId, productIds) => recordPurchases([{ customerId, productIds }]),
    recordPurchases,

    noteOrderEvent: (consumer, messageId, note: OrderNote) =>
      send(
        redis.noteOrderEventScript(
          prefix,
          consumer,
          messageId,
          note.kind,
          note.orderId,
          note.kind === 'placed' ? note.customerId : '',
          note.kind === 'placed' ? JSON.stringify(note.productIds) : '[]',
          retentionSeconds,
        ),
      ),

    async boughtTogether(productIds, limit) {
      const found = new Map<string, string[]>();
      if (productIds.length === 0 || limit <= 0) return found;
      const lists = await send(redis.boughtTogetherScript(prefix, limit, ...productIds));
      productIds.forEach((id, i) => {
        if (lists[i]?.length) found.set(id, lists[i]!);
      });
      return found;
    },

    async forCustomers(customerIds, limit) {
      const found = new Map<string, string[]>();
      if (customerIds.length === 0) return found;
      const lists = await send(redis.forCustomersScript(prefix, Math.max(limit, 0), ...customerIds));
      customerIds.forEach((id, i) => {
        const list = lists[i];
        if (list) found.set(id, limit > 0 ? list : []);
      });
      return found;
    },

    async bestSellers(limit) {
      if (limit <= 0) return [];
      return send(redis.zrange(key('sold'), '0', String(limit - 1)));
    },

    async isEmpty() {
      return (await send(redis.exists(key('sold')))) === 0;
    },
  };
}
