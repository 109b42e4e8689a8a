import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { silentLogger } from '../../../platform/logger';
import { TEST_REDIS_URL } from '../../../platform/testing';
import { inProcessLoginThrottle, redisLoginThrottle, type LoginThrottle } from '../login-throttle';

async function fail(throttle: LoginThrottle, email: string, address: string, times: number): Promise<void> {
  for (let i = 0; i < times; i += 1) expect((await throttle.attempt(email, address)).kind).toBe('allowed');
}

describe('login throttle in process', () => {
  it('lets attempts through again once the window has passed', async () => {
    const throttle = inProcessLoginThrottle({ perEmail: 2, perAddress: 100, windowSeconds: 1 });
    await fail(throttle, 'ann@example.com', '192.0.2.1', 2);
    const refused = await throttle.attempt('ann@example.com', '192.0.2.1');
    expect(refused).toEqual({ kind: 'throttled', retryAfterSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await throttle.attempt('ann@example.com', '192.0.2.1')).kind).toBe('allowed');
  });

  it('counts refused attempts as no failures, so the address count is failures only', async () => {
    const throttle = inProcessLoginThrottle({ perEmail: 2, perAddress: 4, windowSeconds: 60 });
    await fail(throttle, 'bob@example.com', '192.0.2.2', 2);
    for (let i = 0; i < 5; i += 1) expect((await throttle.attempt('bob@example.com', '192.0.2.2')).kind).toBe('throttled');
    // Two failures so far from this address: two more are allowed, the fifth is refused.
    await fail(throttle, 'cat@example.com', '192.0.2.2', 2);
    expect((await throttle.attempt('dan@example.com', '192.0.2.2')).kind).toBe('throttled');
  });

  it('never lets concurrent attempts past the limit', async () => {
    const throttle = inProcessLoginThrottle({ perEmail: 10, perAddress: 100, windowSeconds: 60 });
    const results = await Promise.all(Array.from({ length: 30 }, () => throttle.attempt('eve@example.com', '192.0.2.3')));
    expect(results.filter((r) => r.kind === 'allowed')).toHaveLength(10);
  });
});

const onRedis = TEST_REDIS_URL ? describe : describe.skip;
if (!TEST_REDIS_URL) process.stderr.write('SKIPPED: login throttle on Redis (set TEST_REDIS_URL)\n');

onRedis('login throttle on Redis', () => {
  const prefix = `throttle-${randomBytes(6).toString('hex')}`;
  const limits = { perEmail: 4, perAddress: 6, windowSeconds: 120 };
  let replicas: LoginThrottle[];

  beforeAll(async () => {
    const opened = [0, 1].map(() => redisLoginThrottle({ url: TEST_REDIS_URL!, prefix, limits, logger: silentLogger() }));
    await Promise.all(opened.map((r) => r.connected));
    replicas = opened;
  });
  afterAll(async () => {
    const redis = new Redis(TEST_REDIS_URL!);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('shares the counts between replicas', async () => {
    const [a, b] = replicas as [LoginThrottle, LoginThrottle];
    await fail(a, 'shared@example.com', '198.51.100.1', 2);
    await fail(b, 'shared@example.com', '198.51.100.2', 2);
    const refused = await a.attempt('shared@example.com', '198.51.100.3');
    expect(refused.kind).toBe('throttled');
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(110);
    expect((await b.attempt('shared@example.com', '198.51.100.4')).kind).toBe('throttled');
  });

  it('forgets the account count on a success at any replica', async () => {
    const [a, b] = replicas as [LoginThrottle, LoginThrottle];
    await fail(a, 'reset@example.com', '198.51.100.10', 3);
    const allowed = await b.attempt('reset@example.com', '198.51.100.11');
    if (allowed.kind !== 'allowed') throw new Error('expected the attempt to be allowed');
    await allowed.succeeded();
    await fail(a, 'reset@example.com', '198.51.100.12', 4);
    expect((await b.attempt('reset@example.com', '198.51.100.13')).kind).toBe('throttled');
  });

  it('limits one address across emails on every replica', async () => {
    const [a, b] = replicas as [LoginThrottle, LoginThrottle];
    for (let i = 0; i < limits.perAddress; i += 1) expect((await (i % 2 ? a : b).attempt(`spray-${i}@example.com`, '203.0.113.9')).kind).toBe('allowed');
    expect((await a.attempt('fresh@example.com', '203.0.113.9')).kind).toBe('throttled');
    expect((await b.attempt('fresh@example.com', '203.0.113.10')).kind).toBe('allowed');
  });
});
