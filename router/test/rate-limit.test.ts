import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../platform/logger';
import { TEST_REDIS_URL } from '../../platform/testing';
import { inProcessBudget, redisBudget, retryAfterSeconds, step, type CostBudget } from '../rate-limit';

const limit = { id: 'key-1', maximumAvailable: 100, restoreRate: 10 };

describe('the leaky bucket', () => {
  it('starts full, takes what it holds, refuses more without taking anything', () => {
    const taken = step(undefined, limit, 0, { take: 60 });
    expect(taken).toEqual({ state: { available: 40, at: 0 }, taken: true });
    expect(step(taken.state, limit, 0, { take: 41 })).toEqual({ state: { available: 40, at: 0 }, taken: false });
  });

  it('refills at the restore rate, never beyond the maximum, and gives back refunds up to it', () => {
    expect(step({ available: 40, at: 0 }, limit, 1500, { take: 0 }).state.available).toBe(55);
    expect(step({ available: 40, at: 0 }, limit, 60_000, { take: 0 }).state.available).toBe(100);
    expect(step({ available: 40, at: 0 }, limit, 0, { refund: 30 }).state.available).toBe(70);
    expect(step({ available: 90, at: 0 }, limit, 0, { refund: 30 }).state.available).toBe(100);
  });

  it('says how many whole seconds until the cost is back, at least 1', () => {
    expect(retryAfterSeconds(40, 41, limit)).toBe(1);
    expect(retryAfterSeconds(40, 95, limit)).toBe(6);
  });
});

function budgetContract(open: () => { budget: CostBudget; advance?: (ms: number) => void }) {
  let budget: CostBudget;
  let advance: ((ms: number) => void) | undefined;
  beforeAll(() => ({ budget, advance } = open()));
  afterAll(() => budget.close());

  it('takes, refuses with a retry time, and refunds, reporting whole points', async () => {
    const key = { ...limit, id: `key-${randomBytes(4).toString('hex')}`, restoreRate: 1 };
    expect(await budget.take(key, 60)).toEqual({ taken: true, status: { maximumAvailable: 100, currentlyAvailable: 40, restoreRate: 1 } });
    expect(await budget.take(key, 45)).toEqual({ taken: false, retryAfterSeconds: 5, status: { maximumAvailable: 100, currentlyAvailable: 40, restoreRate: 1 } });
    expect(await budget.refund(key, 25)).toEqual({ maximumAvailable: 100, currentlyAvailable: 65, restoreRate: 1 });
    expect((await budget.take(key, 45)).taken).toBe(true);
  });

  it('keeps each key in a bucket of its own', async () => {
    const a = { ...limit, id: `a-${randomBytes(4).toString('hex')}` };
    const b = { ...limit, id: `b-${randomBytes(4).toString('hex')}` };
    await budget.take(a, 100);
    expect((await budget.take(b, 100)).taken).toBe(true);
    if (advance) {
      advance(2000);
      expect((await budget.take(a, 20)).status.currentlyAvailable).toBe(0);
    }
  });
}

describe('the in-process budget', () => {
  let now = 0;
  budgetContract(() => ({ budget: inProcessBudget(() => now), advance: (ms) => (now += ms) }));
});

(TEST_REDIS_URL ? describe : describe.skip)('the Redis budget', () => {
  budgetContract(() => ({ budget: redisBudget({ url: TEST_REDIS_URL!, prefix: `test-${randomBytes(6).toString('hex')}`, logger: silentLogger() }) }));

  it('takes atomically: of many concurrent takes only what the bucket holds succeeds', async () => {
    const budget = redisBudget({ url: TEST_REDIS_URL!, prefix: `test-${randomBytes(6).toString('hex')}`, logger: silentLogger() });
    try {
      const key = { id: 'shared', maximumAvailable: 100, restoreRate: 1 };
      const takes = await Promise.all(Array.from({ length: 30 }, () => budget.take(key, 10)));
      expect(takes.filter((t) => t.taken)).toHaveLength(10);
    } finally {
      await budget.close();
    }
  });
});
