import type { StockStore } from '../store/port';

/** What every StockStore adapter must do; run against each available adapter. */
export function stockStoreContract(open: () => Promise<{ store: StockStore; release(): Promise<void> }>) {
  let store: StockStore;
  let release: () => Promise<void>;

  beforeAll(async () => {
    ({ store, release } = await open());
    await store.addWarehouses([
      { id: 'wh-b', code: 'B-1', name: 'Berlin', city: 'Berlin', country: 'DE' },
      { id: 'wh-a', code: 'A-1', name: 'Amsterdam', city: 'Amsterdam', country: 'NL' },
    ]);
  });
  afterAll(() => release());

  it('answers ready', async () => {
    expect(await store.ready()).toBe(true);
  });

  it('lists warehouses by code and finds them by id', async () => {
    expect((await store.listWarehouses()).map((w) => w.code)).toEqual(['A-1', 'B-1']);
    expect((await store.warehousesByIds(['wh-b', 'missing'])).map((w) => w.id)).toEqual(['wh-b']);
    expect(await store.warehousesByIds([])).toEqual([]);
  });

  it('adding a warehouse twice keeps the first', async () => {
    await store.addWarehouses([{ id: 'wh-a', code: 'A-1', name: 'Other', city: 'X', country: 'NL' }]);
    expect((await store.warehousesByIds(['wh-a']))[0]?.name).toBe('Amsterdam');
  });

  it('sets and reads stock levels of many products in one statement', async () => {
    await store.setOnHandMany([
      { productId: 'p1', warehouseId: 'wh-a', onHand: 5 },
      { productId: 'p1', warehouseId: 'wh-b', onHand: 7 },
      { productId: 'p2', warehouseId: 'wh-a', onHand: 1 },
    ]);
    const before = store.statementCount();
    const levels = await store.stockLevelsFor(['p1', 'p2', 'p3']);
    expect(store.statementCount() - before).toBe(1);
    expect(levels.map((l) => [l.productId, l.warehouseId, l.onHand, l.reserved])).toEqual([
      ['p1', 'wh-a', 5, 0],
      ['p1', 'wh-b', 7, 0],
      ['p2', 'wh-a', 1, 0],
    ]);
    expect(levels[0]?.updatedAt).toBeInstanceOf(Date);
  });

  it('creates a level on first count and updates it on the next', async () => {
    const created = await store.setOnHand('p9', 'wh-b', 4);
    expect(created).toMatchObject({ productId: 'p9', warehouseId: 'wh-b', onHand: 4, reserved: 0 });
    const updated = await store.setOnHand('p9', 'wh-b', 11);
    expect(updated).toMatchObject({ onHand: 11, reserved: 0 });
  });

  it('refuses a count on an unknown warehouse', async () => {
    await expect(store.setOnHand('p9', 'nowhere', 1)).rejects.toThrow();
  });

  it('refuses negative counts at the database', async () => {
    await expect(store.setOnHandMany([{ productId: 'p5', warehouseId: 'wh-a', onHand: -1 }])).rejects.toThrow();
  });

  it('serialises concurrent counts of one level: the last write wins, no row is doubled', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.setOnHand('p7', 'wh-a', i)));
    const levels = await store.stockLevelsFor(['p7']);
    expect(levels).toHaveLength(1);
    expect(levels[0]!.onHand).toBeGreaterThanOrEqual(0);
    expect(levels[0]!.onHand).toBeLessThan(20);
  });
}
