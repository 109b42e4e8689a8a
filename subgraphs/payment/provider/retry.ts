import { TransientProviderError } from './port';

/** How provider calls are retried after transient failures. */
export interface RetryPolicy {
  /** Calls in all, the first included; default 4. */
  maxAttempts: number;
  /** Delay before the first retry, in ms, doubling after each; default 100. */
  baseMs: number;
  /** Longest delay between two attempts, in ms; default 2000. */
  maxMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, baseMs: 100, maxMs: 2000 };

/** A policy with the given fields over the defaults; refuses values that would never retry or never stop. */
export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY, ...overrides };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new Error('maxAttempts must be a positive integer');
  if (!(policy.baseMs >= 0) || !(policy.maxMs >= policy.baseMs)) throw new Error('need 0 <= baseMs <= maxMs');
  return policy;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): exponential, capped at
 * `maxMs`, with "equal jitter": half of it fixed, half random, so replicas that failed
 * together do not retry together, yet the delay still grows. `random` returns [0, 1).
 */
export function backoff(attempt: number, policy: RetryPolicy = DEFAULT_RETRY_POLICY, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new Error(`attempt must be a positive integer, got ${attempt}`);
  // Past 2^30 the cap has long applied; keeping the exponent small keeps the arithmetic exact.
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Waits `ms`; tests pass one that does not. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Told before each retry, for logs and metrics. */
  onRetry?: (attempt: number, delayMs: number, error: TransientProviderError) => void;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `call` until it succeeds, retrying only `TransientProviderError`, at most
 * `policy.maxAttempts` times in all; then the last transient error is thrown. Any other
 * error is thrown at once. The call must be idempotent (it carries one idempotency key).
 */
export async function withRetry<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, sleep = sleepFor, random = Math.random } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof TransientProviderError) || attempt >= policy.maxAttempts) throw error;
      const delay = backoff(attempt, policy, random);
      options.onRetry?.(attempt, delay, error);
      await sleep(delay);
    }
  }
}
