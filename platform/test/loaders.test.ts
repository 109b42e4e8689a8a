import DataLoader from 'dataloader';
import { alignByKey, groupByKey, loaderPer } from '../loaders';
import { linesTotal } from '../money';

describe('batch helpers', () => {
  const rows = [
    { id: 'l1', orderId: 'o2' },
    { id: 'l2', orderId: 'o1' },
    { id: 'l3', orderId: 'o2' },
  ];

  it('groups rows under the keys asked for, in key order, with [] for keys without rows', () => {
    expect(groupByKey(['o1', 'o3', 'o2'], rows, (r) => r.orderId)).toEqual([[rows[1]], [], [rows[0], rows[2]]]);
  });

  it('aligns one row per key, null where none', () => {
    expect(alignByKey(['l3', 'l9'], rows, (r) => r.id)).toEqual([rows[2], null]);
  });

  it('gives one loader per argument value, so keys asked with the same value share a batch', async () => {
    const batches: [number, readonly string[]][] = [];
    const byPage = loaderPer((first: number) => new DataLoader<string, string>(async (ids) => (batches.push([first, ids]), ids.map((id) => `${id}:${first}`))));
    expect(byPage(5)).toBe(byPage(5));
    const loaded = await Promise.all([byPage(5).load('a'), byPage(5).load('b'), byPage(10).load('a')]);
    expect(loaded).toEqual(['a:5', 'b:5', 'a:10']);
    expect(batches).toEqual([
      [5, ['a', 'b']],
      [10, ['a']],
    ]);
  });
});

describe('linesTotal', () => {
  it('sums unit price times quantity in minor units', () => {
    expect(linesTotal([{ unitPriceAmount: 1999, quantity: 3 }, { unitPriceAmount: 1, quantity: 1 }], 'EUR')).toEqual({ amount: 5998, currency: 'EUR' });
    expect(linesTotal([], 'JPY')).toEqual({ amount: 0, currency: 'JPY' });
  });

  it('refuses a quantity that is not a whole number', () => {
    expect(() => linesTotal([{ unitPriceAmount: 100, quantity: 1.5 }], 'USD')).toThrow('quantity must be an integer');
  });
});
