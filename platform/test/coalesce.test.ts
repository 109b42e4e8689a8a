import { coalesced } from '../coalesce';

describe('coalesced', () => {
  const recorder = (fail: (item: { key: string; value: number }) => boolean = () => false) => {
    const runs: number[][] = [];
    const call = coalesced(
      async (items: readonly { key: string; value: number }[]) => {
        runs.push(items.map((item) => item.value));
        const bad = items.find(fail);
        if (bad) throw new Error(`cannot handle ${bad.value}`);
        return items.map((item) => item.value * 10);
      },
      { key: (item) => item.key, maxBatchSize: 3 },
    );
    return { runs, call };
  };

  it('answers the calls of one tick from one run, each its own answer', async () => {
    const { runs, call } = recorder();
    expect(await Promise.all([call({ key: 'a', value: 1 }), call({ key: 'b', value: 2 })])).toEqual([10, 20]);
    expect(runs).toEqual([[1, 2]]);
    expect(await call({ key: 'a', value: 3 })).toBe(30);
    expect(runs).toEqual([[1, 2], [3]]);
  });

  it('never puts calls with the same key in one run, nor more than maxBatchSize', async () => {
    const { runs, call } = recorder();
    const answers = await Promise.all(
      [
        { key: 'a', value: 1 },
        { key: 'a', value: 2 },
        { key: 'b', value: 3 },
        { key: 'a', value: 4 },
        { key: 'c', value: 5 },
      ].map(call),
    );
    expect(answers).toEqual([10, 20, 30, 40, 50]);
    // DataLoader cuts at 3 first ([1, 2, 3], [4, 5]); within each cut a repeated key waits for the next run.
    expect(runs).toHaveLength(3);
    expect(runs).toEqual(expect.arrayContaining([[1, 3], [2], [4, 5]]));
    expect(runs.findIndex((run) => run.includes(1))).toBeLessThan(runs.findIndex((run) => run.includes(2)));
  });

  it('puts calls with the same item in one run when no key is given', async () => {
    const runs: string[][] = [];
    const read = coalesced(async (ids: readonly string[]) => {
      runs.push([...ids]);
      return ids.map((id) => `row of ${id}`);
    });
    expect(await Promise.all(['a', 'a', 'b'].map(read))).toEqual(['row of a', 'row of a', 'row of b']);
    expect(runs).toEqual([['a', 'a', 'b']]);
  });

  it('repeats a failed run for each item alone, so only the item that cannot be handled fails', async () => {
    const { runs, call } = recorder((item) => item.value === 2);
    const settled = await Promise.allSettled([call({ key: 'a', value: 1 }), call({ key: 'b', value: 2 }), call({ key: 'c', value: 3 })]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([10, 'cannot handle 2', 30]);
    expect(runs).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('fails every call of a run that answers a different number of items than it was given, without running them again', async () => {
    const runs: number[][] = [];
    const call = coalesced(
      async (items: readonly number[]) => {
        runs.push([...items]);
        return items.slice(1);
      },
      { key: String },
    );
    await expect(call(1)).rejects.toThrow('answered 0 items for 1');
    const settled = await Promise.allSettled([call(2), call(3)]);
    expect(settled.map((s) => s.status === 'rejected' && (s.reason as Error).message)).toEqual([
      'a coalesced run answered 1 items for 2',
      'a coalesced run answered 1 items for 2',
    ]);
    expect(runs).toEqual([[1], [2, 3]]);
  });
});
