import type { DemoProduct } from '../../../platform/demo-shop-types';
import { testDeps, type TestDeps } from '../../../platform/testing';
import { buildSearchQuery } from '../search-query';
import { seedCatalog } from '../seed';
import { openCatalogStore, productSearchSubgraph } from '../subgraph';
import type { CatalogStore } from '../store/port';
import { BRANDS, CATEGORIES, fixtureShop, productId } from './catalog-fixture';

const STYLES = ['Classic', 'Modern', 'Rustic', 'Nordic', 'Industrial', 'Vintage', 'Compact', 'Grand', 'Coastal', 'Urban'];
const MATERIALS = ['Wooden', 'Oak', 'Walnut', 'Steel', 'Brass', 'Velvet', 'Linen', 'Glass', 'Marble', 'Rattan'];
const KINDS: [string, string][] = [
  ['Chair', 'cat-chairs'], ['Stool', 'cat-chairs'], ['Bench', 'cat-chairs'], ['Armchair', 'cat-chairs'], ['Rocker', 'cat-chairs'],
  ['Table', 'cat-tables'], ['Desk', 'cat-tables'], ['Console', 'cat-tables'], ['Sideboard', 'cat-tables'], ['Shelf', 'cat-tables'],
  ['Lamp', 'cat-lamps'], ['Pendant', 'cat-lamps'], ['Sconce', 'cat-lamps'], ['Lantern', 'cat-lamps'], ['Chandelier', 'cat-lamps'],
  ['Sofa', 'cat-sofas'], ['Loveseat', 'cat-sofas'], ['Daybed', 'cat-sofas'], ['Ottoman', 'cat-sofas'], ['Sectional', 'cat-sofas'],
];

/** A demo-shop-sized catalog: 2,000 products, every style × material × kind. */
function fullSizeShop() {
  const products: DemoProduct[] = [];
  for (const style of STYLES) {
    for (const material of MATERIALS) {
      for (const [kind, categoryId] of KINDS) {
        const n = products.length + 1;
        products.push({
          id: productId(n),
          sku: `FULL-${n}`,
          name: `${style} ${material} ${kind}`,
          description: `A ${style.toLowerCase()} ${kind.toLowerCase()} in ${material.toLowerCase()}.`,
          priceAmount: 500 + ((n * 7919) % 90_000),
          categoryId,
          brandId: BRANDS[n % BRANDS.length]!.id,
          createdAt: new Date(Date.UTC(2023, 0, 1) + n * 3_600_000),
        });
      }
    }
  }
  return fixtureShop({ categories: CATEGORIES, brands: BRANDS, products });
}

describe('seeding the catalog', () => {
  let deps: TestDeps;
  let store: CatalogStore;

  beforeAll(async () => {
    deps = await testDeps('pglite');
    store = await openCatalogStore(deps);
  });
  afterAll(async () => {
    await store?.close();
    await deps?.release();
  });

  it('refuses a catalog whose products break the rules, writing nothing', async () => {
    const shop = fullSizeShop();
    const { service } = productSearchSubgraph(store, 'USD');
    shop.products[1999] = { ...shop.products[1999]!, priceAmount: -1 };
    await expect(seedCatalog(service, shop)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    shop.products[1999] = { ...shop.products[1999]!, priceAmount: 1, categoryId: 'cat-nowhere' };
    await expect(seedCatalog(service, shop)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(await store.catalog.isEmpty()).toBe(true);
  });

  it('writes 2,000 products in a handful of statements, then leaves a seeded catalog alone', async () => {
    const shop = fullSizeShop();
    expect(shop.products).toHaveLength(2000);
    const { service } = productSearchSubgraph(store, 'USD');
    const before = store.catalog.statementCount();
    expect(await seedCatalog(service, shop)).toBe(true);
    // One emptiness check, then chunked inserts: not a statement per product.
    expect(store.catalog.statementCount() - before).toBeLessThanOrEqual(8);
    expect(await seedCatalog(service, shop)).toBe(false);
    // The hook the embedded shop calls seeds the same way.
    expect(await productSearchSubgraph(store, 'USD').seed!({ shop, password: 'unused-here', nodeEnv: 'test' })).toBe(false);

    const page = await store.index.search(buildSearchQuery({ query: 'walnut tabel', first: 5 }, 'USD'));
    expect(page.totalCount).toBeGreaterThanOrEqual(10);
    const [best] = await store.catalog.productsByIds([page.hits[0]!.id]);
    expect(best!.name).toMatch(/Walnut Table$/);
    const all = await store.index.search(buildSearchQuery({ first: 0 }, 'USD'));
    expect(all.totalCount).toBe(2000);
    expect(all.facets.categories.map((f) => f.count)).toEqual([500, 500, 500, 500]);
  });
});
