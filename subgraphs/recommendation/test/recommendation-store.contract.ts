import { aggregatePurchases } from '../co-purchases';
import type { RecommendationStore } from '../store/port';

/** What every RecommendationStore adapter must do; run against each available adapter. */
export function recommendationStoreContract(open: () => Promise<{ store: RecommendationStore; release(): Promise<void> }>) {
  let store: RecommendationStore;
  let release: () => Promise<void>;

  beforeAll(async () => {
    ({ store, release } = await open());
  });
  afterAll(() => release());

  it('answers ready and starts empty', async () => {
    expect(await store.ready()).toBe(true);
    expect(await store.isEmpty()).toBe(true);
    expect(await store.bestSellers(5)).toEqual([]);
  });

  it('records an order as co-purchases both ways', async () => {
    await store.recordPurchase('alice', ['a', 'b', 'c']);
    expect(await store.isEmpty()).toBe(false);
    const together = await store.boughtTogether(['a', 'b'], 5);
    expect(together.get('a')).toEqual(['b', 'c']);
    expect(together.get('b')).toEqual(['a', 'c']);
  });

  it('ranks by how often products were bought together, then by id, and honours the limit', async () => {
    await store.recordPurchase('bob', ['a', 'c']);
    await store.recordPurchase('carol', ['a', 'c', 'd']);
    await store.recordPurchase('dave', ['a', 'd']);
    // a: c×3, d×2, b×1
    expect((await store.boughtTogether(['a'], 5)).get('a')).toEqual(['c', 'd', 'b']);
    expect((await store.boughtTogether(['a'], 2)).get('a')).toEqual(['c', 'd']);
    // d: a×2, c×1
    expect((await store.boughtTogether(['d'], 5)).get('d')).toEqual(['a', 'c']);
  });

  it('answers many products in one statement; products never bought together are absent', async () => {
    const before = store.statementCount();
    const together = await store.boughtTogether(['a', 'b', 'c', 'd', 'never'], 1);
    expect(store.statementCount() - before).toBe(1);
    expect(Object.fromEntries(together)).toEqual({ a: ['c'], b: ['a'], c: ['a'], d: ['a'] });
    expect(await store.boughtTogether([], 5)).toEqual(new Map());
  });

  it("suggests what was bought with a customer's products, leaving out what they have, by summed weight", async () => {
    // alice has a, b, c. Candidates: d (with a ×2, with c ×1) = 3.
    // bob has a, c. Candidates: b (a 1 + c 1) = 2, d (a 2 + c 1) = 3.
    const before = store.statementCount();
    const found = await store.forCustomers(['alice', 'bob', 'stranger'], 5);
    expect(store.statementCount() - before).toBe(1);
    expect(found.get('alice')).toEqual(['d']);
    expect(found.get('bob')).toEqual(['d', 'b']);
    expect(found.has('stranger')).toBe(false);
    expect((await store.forCustomers(['bob'], 1)).get('bob')).toEqual(['d']);
  });

  it('gives a customer with history but nothing left to suggest an empty list', async () => {
    await store.recordPurchase('erin', ['a', 'b', 'c', 'd']);
    expect((await store.forCustomers(['erin'], 5)).get('erin')).toEqual([]);
  });

  it('ranks best sellers by units sold, then id', async () => {
    // units: a 5 (alice bob carol dave erin), c 4, d 3, b 2
    await store.recordPurchase('solo', ['z-only']);
    expect(await store.bestSellers(10)).toEqual(['a', 'c', 'd', 'b', 'z-only']);
    expect(await store.bestSellers(2)).toEqual(['a', 'c']);
  });

  it('counts a product on two lines of one order once', async () => {
    await store.recordPurchase('frank', ['x', 'x', 'y']);
    expect((await store.boughtTogether(['x'], 5)).get('x')).toEqual(['y']);
    await store.recordPurchase('frank', ['y', 'x']);
    await store.recordPurchase('frank', ['y', 'z']);
    // y: x×2, z×1
    expect((await store.boughtTogether(['y'], 5)).get('y')).toEqual(['x', 'z']);
  });

  it('loses no increment when the same pair is recorded concurrently', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.recordPurchase(`buyer-${i % 3}`, ['m', 'n'])));
    await store.recordPurchase('other', ['m', 'o']);
    await store.recordPurchases(Array.from({ length: 19 }, () => ({ customerId: 'other', productIds: ['m', 'o'] })));
    await store.recordPurchase('other', ['m', 'p']);
    // m: n×20, o×20, p×1 — n and o tie and are ordered by id.
    expect((await store.boughtTogether(['m'], 5)).get('m')).toEqual(['n', 'o', 'p']);
    expect((await store.boughtTogether(['p'], 5)).get('p')).toEqual(['m']);
  });

  it('records a thousand orders of up to four lines in bulk, ranking as their weights say', async () => {
    const orders = Array.from({ length: 1000 }, (_, i) => ({
      customerId: `bulk-c${i % 100}`,
      // A catalog wide enough that pairs outnumber one upsert chunk, with some pairs repeating.
      productIds: [`bulk-p${i % 97}`, `bulk-p${(i * 7) % 1500}`, `bulk-p${(i * 13 + 1) % 1999}`, `bulk-p${(i * 31 + 2) % 1997}`].slice(0, 2 + (i % 3)),
    }));
    expect(aggregatePurchases(orders).pairs.length).toBeGreaterThan(5000);
    await store.recordPurchases(orders);
    const expected = new Map<string, { id: string; weight: number }[]>();
    for (const { productId, otherProductId, weight } of aggregatePurchases(orders).pairs) {
      expected.set(productId, [...(expected.get(productId) ?? []), { id: otherProductId, weight }]);
    }
    const products = [...expected.keys()];
    const found = await store.boughtTogether(products, 100);
    for (const id of products) {
      const ranked = expected.get(id)!.sort((a, b) => b.weight - a.weight || (a.id < b.id ? -1 : 1)).map((o) => o.id);
      expect(found.get(id)).toEqual(ranked);
    }
  });

  it('records orders in bulk with the same result as one by one', async () => {
    const orders = Array.from({ length: 60 }, (_, i) => ({
      customerId: `c${i % 6}`,
      productIds: [`p${i % 5}`, `p${(i * 3) % 7}`, `p${(i * 7) % 9}`],
    }));
    const named = (prefix: string) => orders.map((o) => ({ customerId: prefix + o.customerId, productIds: o.productIds.map((id) => prefix + id) }));
    await store.recordPurchases(named('many-'));
    for (const o of named('one-')) await store.recordPurchase(o.customerId, o.productIds);
    const products = Array.from({ length: 9 }, (_, i) => `p${i}`);
    const customers = Array.from({ length: 6 }, (_, i) => `c${i}`);
    const strip = (map: Map<string, string[]>, prefix: string) =>
      Object.fromEntries([...map].map(([k, v]) => [k.slice(prefix.length), v.map((id) => id.slice(prefix.length))]));
    expect(strip(await store.boughtTogether(products.map((p) => `one-${p}`), 100), 'one-')).toEqual(
      strip(await store.boughtTogether(products.map((p) => `many-${p}`), 100), 'many-'),
    );
    expect(strip(await store.forCustomers(customers.map((c) => `one-${c}`), 100), 'one-')).toEqual(
      strip(await store.forCustomers(customers.map((c) => `many-${c}`), 100), 'many-'),
    );
  });
}
