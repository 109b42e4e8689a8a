import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../../platform/config';
import type { Logger } from '../../platform/logger';
import { quitRedis, redisConnection } from '../../platform/redis';
import type { StoreHandle } from '../../platform/server';

/** How many failed sign-ins are allowed, per account and per client address, within one window. */
export interface LoginLimits {
  /** Failures for one email (existing or not) before further attempts are refused. */
  perEmail: number;
  /** Failures from one client address before further attempts are refused. */
  perAddress: number;
  /** Counted from the first failure, in seconds; the counts go when it passes. */
  windowSeconds: number;
}

/** One sign-in attempt: refused now, or let through and told whether it succeeded. */
export type LoginAttempt =
  | { kind: 'throttled'; retryAfterSeconds: number }
  | {
      kind: 'allowed';
      /** The password was right: the account's failures are forgotten and this attempt is not counted. */
      succeeded(): Promise<void>;
    };

/**
 * Counts failed sign-ins per email and per client address. An attempt is counted before
 * the password is checked, so concurrent guesses cannot slip past the limit; a success
 * gives its count back.
 */
export interface LoginThrottle extends StoreHandle {
  attempt(email: string, address: string | undefined): Promise<LoginAttempt>;
}

/** Emails are counted by their hash: no address book of sign-in attempts is kept in Redis. */
function emailKey(email: string): string {
  return createHash('sha256').update(email).digest('base64url');
}

function isOverLimit(result: PromiseSettledResult<RateLimiterRes>): result is PromiseRejectedResult & { reason: RateLimiterRes } {
  return result.status === 'rejected' && result.reason instanceof RateLimiterRes;
}

/** A throttle over two rate-limiter-flexible limiters (in process or on Redis). */
export function rateLimitedLoginThrottle(
  limiters: { email: RateLimiterAbstract; address: RateLimiterAbstract },
  handle: { ready(): Promise<boolean>; close(): Promise<void> } = { ready: async () => true, close: async () => {} },
): LoginThrottle {
  return {
    ...handle,
    statementCount: () => 0,
    async attempt(email, address) {
      const counted: [RateLimiterAbstract, string][] = [[limiters.email, emailKey(email)]];
      if (address) counted.push([limiters.address, address]);
      const results = await Promise.allSettled(counted.map(([limiter, key]) => limiter.consume(key)));
      const failure = results.find((r) => r.status === 'rejected' && !(r.reason instanceof RateLimiterRes));
      if (failure) throw (failure as PromiseRejectedResult).reason;
      const over = results.filter(isOverLimit);
      if (over.length > 0) {
        // A refused attempt is no failed sign-in: give back what it took, so only failures count.
        await Promise.all(counted.map(([limiter, key]) => limiter.reward(key)));
        const ms = Math.max(...over.map((r) => r.reason.msBeforeNext));
        return { kind: 'throttled', retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) };
      }
      return {
        kind: 'allowed',
        succeeded: async () => {
          await limiters.email.delete(emailKey(email));
          if (address) await limiters.address.reward(address);
        },
      };
    },
  };
}

function memoryLimiters(limits: LoginLimits) {
  return {
    email: new RateLimiterMemory({ points: limits.perEmail, duration: limits.windowSeconds }),
    address: new RateLimiterMemory({ points: limits.perAddress, duration: limits.windowSeconds }),
  };
}

/** Counts in this process only: the embedded shop, or one replica. */
export function inProcessLoginThrottle(limits: LoginLimits): LoginThrottle {
  return rateLimitedLoginThrottle(memoryLimiters(limits));
}

/**
 * Counts in Redis, shared by every replica, under `<prefix>:login-failures:*`. While Redis
 * cannot be reached each replica counts in process (rate-limiter-flexible's insurance
 * limiter), so sign-in keeps working and keeps being limited.
 */
export function redisLoginThrottle(options: {
  url: string;
  prefix: string;
  limits: LoginLimits;
  logger: Logger;
}): LoginThrottle & { connected: Promise<void> } {
  const client: Redis = redisConnection(options.url, `login-throttle-${process.pid}`, options.logger, 'login-throttle');
  /** Until then attempts are counted in process (a freshly started replica, before it reaches Redis). */
  const connected = new Promise<void>((resolve) => client.once('ready', () => resolve()));
  const insurance = memoryLimiters(options.limits);
  const limiter = (kind: 'email' | 'address', points: number) =>
    new RateLimiterRedis({
      storeClient: client,
      keyPrefix: `${options.prefix}:login-failures:${kind}`,
      points,
      duration: options.limits.windowSeconds,
      rejectIfRedisNotReady: true,
      insuranceLimiter: insurance[kind],
    });
  const throttle = rateLimitedLoginThrottle(
    { email: limiter('email', options.limits.perEmail), address: limiter('address', options.limits.perAddress) },
    // Ready either way: without Redis the counts are kept in process until it is back.
    { ready: async () => true, close: () => quitRedis(client) },
  );
  return { ...throttle, connected };
}

/** The configured limits. */
export function loginLimitsFrom(config: Config): LoginLimits {
  return {
    perEmail: config.LOGIN_MAX_FAILURES_PER_EMAIL,
    perAddress: config.LOGIN_MAX_FAILURES_PER_ADDRESS,
    windowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS,
  };
}

/** The process's throttle: on Redis with REDIS_URL (shared by replicas), otherwise in process. */
export function openLoginThrottle(config: Config, logger: Logger): LoginThrottle {
  const limits = loginLimitsFrom(config);
  if (!config.REDIS_URL) return inProcessLoginThrottle(limits);
  return redisLoginThrottle({ url: config.REDIS_URL, prefix: config.EVENT_STREAM_PREFIX, limits, logger: logger.child({ component: 'login-throttle' }) });
}
