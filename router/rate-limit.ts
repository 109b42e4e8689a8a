/**
 * Cost-based rate limits for partner keys, as a leaky bucket (Shopify's model): each key has
 * a bucket of `maximumAvailable` points that refills at `restoreRate` points per second. An
 * operation takes its estimated (requested) cost before it runs, or is refused when the
 * bucket holds less; after it ran, what the actual cost left unused goes back.
 *
 * With Redis the buckets are shared by every router replica: one Lua script per take or
 * refund updates a bucket atomically, timed by the Redis server's clock so replicas with
 * different clocks agree. Without Redis each process keeps its own.
 */
import type Redis from 'ioredis';
import type { Logger } from '../platform/logger';
import { quitRedis, redisConnection } from '../platform/redis';

/** The limit of one key. */
export interface BucketLimit {
  /** The key's id: one bucket per key. */
  id: string;
  maximumAvailable: number;
  /** Points per second. */
  restoreRate: number;
}

/** How full a key's bucket is, as `extensions.cost.throttleStatus` reports it. */
export interface ThrottleStatus {
  maximumAvailable: number;
  /** Whole points available now. */
  currentlyAvailable: number;
  restoreRate: number;
}

/** What taking from a bucket did: taken, or refused with how long until enough is back. */
export type Take = { taken: true; status: ThrottleStatus } | { taken: false; status: ThrottleStatus; retryAfterSeconds: number };

/** Where buckets live; `close` ends its connections. */
export interface CostBudget {
  /** Takes `cost` points when the bucket holds that many; otherwise takes nothing. */
  take(limit: BucketLimit, cost: number): Promise<Take>;
  /** Gives `amount` points back, never beyond the maximum. */
  refund(limit: BucketLimit, amount: number): Promise<ThrottleStatus>;
  close(): Promise<void>;
}

/** A bucket's state: points available at time `at` (epoch ms). */
export interface BucketState {
  available: number;
  at: number;
}

/** The bucket at `now`: refilled for the time passed since it was last written (a new bucket is full). */
export function refill(state: BucketState | undefined, limit: BucketLimit, now: number): number {
  if (!state) return limit.maximumAvailable;
  return Math.min(limit.maximumAvailable, state.available + (Math.max(0, now - state.at) * limit.restoreRate) / 1000);
}

/** Seconds until a bucket holding `available` holds `cost`, whole and at least 1. */
export function retryAfterSeconds(available: number, cost: number, limit: BucketLimit): number {
  return Math.max(1, Math.ceil((cost - available) / limit.restoreRate));
}

function status(limit: BucketLimit, available: number): ThrottleStatus {
  return { maximumAvailable: limit.maximumAvailable, currentlyAvailable: Math.floor(available), restoreRate: limit.restoreRate };
}

/**
 * One step of a bucket at `now`: take `cost` (refused, changing nothing, when it holds less)
 * or give back `refund`. Pure: the in-process budget runs it, and the Redis script is the
 * same arithmetic in Lua.
 */
export function step(
  state: BucketState | undefined,
  limit: BucketLimit,
  now: number,
  change: { take: number } | { refund: number },
): { state: BucketState; taken: boolean } {
  const available = refill(state, limit, now);
  if ('refund' in change) return { state: { available: Math.min(limit.maximumAvailable, available + change.refund), at: now }, taken: false };
  if (change.take > available) return { state: { available, at: now }, taken: false };
  return { state: { available: available - change.take, at: now }, taken: true };
}

function outcome(limit: BucketLimit, cost: number, available: number, taken: boolean): Take {
  return taken
    ? { taken: true, status: status(limit, available) }
    : { taken: false, status: status(limit, available), retryAfterSeconds: retryAfterSeconds(available, cost, limit) };
}

/** Buckets in this process: the embedded shop, or a single router. */
export function inProcessBudget(now: () => number = Date.now): CostBudget {
  const buckets = new Map<string, BucketState>();
  const run = (limit: BucketLimit, change: { take: number } | { refund: number }) => {
    const result = step(buckets.get(limit.id), limit, now(), change);
    // A full bucket is the same as none: forget it, so memory holds only keys in use.
    if (result.state.available >= limit.maximumAvailable) buckets.delete(limit.id);
    else buckets.set(limit.id, result.state);
    return result;
  };
  return {
    async take(limit, cost) {
      const { state, taken } = run(limit, { take: cost });
      return outcome(limit, cost, state.available, taken);
    },
    async refund(limit, amount) {
      return status(limit, run(limit, { refund: amount }).state.available);
    },
    async close() {},
  };
}

/**
 * name: partner-bucket-step — refill for the time passed on the Redis clock, then take
 * ARGV[3] points (refused, changing nothing but the refill, when fewer are there) or, with
 * ARGV[4] = 1, give them back. The key expires once the bucket would be full again.
 * Returns { taken (1/0), available as text (Lua numbers lose their fraction on return) }.
 */
const STEP_SCRIPT = `
local maximum = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local refund = ARGV[4] == '1'
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'available', 'at')
local available = maximum
if state[1] then
  available = math.min(maximum, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate / 1000)
end
local taken = 0
if refund then
  available = math.min(maximum, available + amount)
elseif amount <= available then
  available = available - amount
  taken = 1
end
redis.call('HSET', KEYS[1], 'available', tostring(available), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((maximum - available) * 1000 / rate) + 1000)
return { taken, tostring(available) }
`;

type StepRedis = Redis & { partnerBucketStep(key: string, maximum: number, rate: number, amount: number, refund: 0 | 1): Promise<[number, string]> };

/** Buckets in Redis under `<prefix>:partner-bucket:<key id>`, shared by every replica. */
export function redisBudget(options: { url: string; prefix: string; logger: Logger }): CostBudget {
  const client = redisConnection(options.url, `partner-budget-${process.pid}`, options.logger, 'partner-budget') as StepRedis;
  // EVALSHA with a fallback to EVAL: the script is sent once per connection.
  client.defineCommand('partnerBucketStep', { numberOfKeys: 1, lua: STEP_SCRIPT });
  const run = async (limit: BucketLimit, amount: number, refund: boolean) => {
    const [taken, available] = await client.partnerBucketStep(
      `${options.prefix}:partner-bucket:${limit.id}`,
      limit.maximumAvailable,
      limit.restoreRate,
      amount,
      refund ? 1 : 0,
    );
    return { taken: taken === 1, available: Number(available) };
  };
  return {
    async take(limit, cost) {
      const { taken, available } = await run(limit, cost, false);
      return outcome(limit, cost, available, taken);
    },
    async refund(limit, amount) {
      return status(limit, (await run(limit, amount, true)).available);
    },
    close: () => quitRedis(client),
  };
}
