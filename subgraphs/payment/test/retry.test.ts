import { TransientProviderError } from '../provider/port';
import { backoff, DEFAULT_RETRY_POLICY, retryPolicy, withRetry } from '../provider/retry';

const policy = { maxAttempts: 4, baseMs: 100, maxMs: 1000 };

describe('backoff', () => {
  it('doubles from the base, half of it fixed and half jitter', () => {
    expect([1, 2, 3, 4].map((n) => backoff(n, policy, () => 0))).toEqual([50, 100, 200, 400]);
    expect([1, 2, 3, 4].map((n) => backoff(n, policy, () => 0.999999))).toEqual([100, 200, 400, 800]);
    expect(backoff(2, policy, () => 0.5)).toBe(150);
  });

  it('never exceeds the cap, however many attempts', () => {
    expect(backoff(5, policy, () => 0.999999)).toBe(1000);
    expect(backoff(80, policy, () => 0.999999)).toBe(1000);
    expect(backoff(80, policy, () => 0)).toBe(500);
  });

  it('spreads retries of replicas that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoff(3, policy)));
    expect(delays.size).toBeGreaterThan(10);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...delays)).toBeLessThanOrEqual(400);
  });

  it('refuses attempt numbers below 1 or fractional', () => {
    expect(() => backoff(0)).toThrow();
    expect(() => backoff(1.5)).toThrow();
  });

  it('defaults to 4 attempts from 100 ms, and refuses a policy that would never call or shrinks its delays', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({ maxAttempts: 4, baseMs: 100, maxMs: 2000 });
    expect(retryPolicy({ maxAttempts: 2 })).toEqual({ maxAttempts: 2, baseMs: 100, maxMs: 2000 });
    expect(() => retryPolicy({ maxAttempts: 0 })).toThrow();
    expect(() => retryPolicy({ baseMs: 500, maxMs: 100 })).toThrow();
  });
});

describe('withRetry', () => {
  const noWait = { sleep: async () => {}, random: () => 0 };

  function failing(transientFailures: number, error: () => Error = () => new TransientProviderError('try later')) {
    let calls = 0;
    const call = async () => {
      calls += 1;
      if (calls <= transientFailures) throw error();
      return `ok after ${calls}`;
    };
    return { call, calls: () => calls };
  }

  it('retries transient failures and returns the first success', async () => {
    const { call, calls } = failing(3);
    const slept: number[] = [];
    const retried: number[] = [];
    const result = await withRetry(call, {
      policy,
      random: () => 0,
      sleep: async (ms) => void slept.push(ms),
      onRetry: (attempt) => void retried.push(attempt),
    });
    expect(result).toBe('ok after 4');
    expect(calls()).toBe(4);
    expect(slept).toEqual([50, 100, 200]);
    expect(retried).toEqual([1, 2, 3]);
  });

  it('gives up after the last attempt with the transient error', async () => {
    const { call, calls } = failing(10);
    await expect(withRetry(call, { policy, ...noWait })).rejects.toBeInstanceOf(TransientProviderError);
    expect(calls()).toBe(4);
  });

  it('does not retry other errors', async () => {
    const { call, calls } = failing(10, () => new Error('bug'));
    await expect(withRetry(call, { policy, ...noWait })).rejects.toThrow('bug');
    expect(calls()).toBe(1);
  });

  it('tries once when the policy allows one attempt', async () => {
    const { call, calls } = failing(1);
    await expect(withRetry(call, { policy: { ...policy, maxAttempts: 1 }, ...noWait })).rejects.toBeInstanceOf(TransientProviderError);
    expect(calls()).toBe(1);
  });

  it('waits for real by default', async () => {
    const { call } = failing(1);
    const began = Date.now();
    await withRetry(call, { policy: { maxAttempts: 2, baseMs: 40, maxMs: 40 }, random: () => 0 });
    expect(Date.now() - began).toBeGreaterThanOrEqual(15);
  });
});
