import { mapConcurrently } from '../concurrency';
import { DEFAULT_DEMO_PASSWORD, assertDemoPasswordAllowed } from '../seed';

describe('demo password', () => {
  it('is refused in production when it is the published default', () => {
    expect(() => assertDemoPasswordAllowed('production', DEFAULT_DEMO_PASSWORD)).toThrow(/DEMO_PASSWORD/);
  });

  it('is allowed in production when it was changed, and anywhere else as it is', () => {
    expect(() => assertDemoPasswordAllowed('production', 'a-real-secret-of-ours')).not.toThrow();
    for (const env of ['development', 'test', undefined]) {
      expect(() => assertDemoPasswordAllowed(env, DEFAULT_DEMO_PASSWORD)).not.toThrow();
    }
  });
});

describe('mapConcurrently', () => {
  it('keeps input order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const results = await mapConcurrently([5, 1, 4, 2, 3, 0, 6], 3, async (n, i) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, n * 3));
      running -= 1;
      return `${i}:${n}`;
    });
    expect(results).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3', '5:0', '6:6']);
    expect(peak).toBe(3);
  });

  it('handles an empty list and refuses a limit below one', async () => {
    expect(await mapConcurrently([], 4, async () => 1)).toEqual([]);
    await expect(mapConcurrently([1], 0, async () => 1)).rejects.toThrow();
  });
});
