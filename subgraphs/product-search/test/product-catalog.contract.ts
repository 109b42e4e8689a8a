import { sleep } from '../../../platform/testing';
import type { NewProductRecord, ProductCatalog, ProductRecord } from '../store/port';
import { catalogFixture, productId } from './catalog-fixture';

const fixture = catalogFixture(40);
const withCurrency = <T extends object>(p: T) => ({ ...p, currency: 'USD' });
const stamp = (p: ProductRecord) => ({ id: p.id, version: p.version });

/** A new product of the fixture's categories and brands; `n` makes its id and SKU its own. */
function newProduct(n: number, overrides: Partial<NewProductRecord> = {}): NewProductRecord {
  return {
    id: `contract-${n}`,
    sku: `CONTRACT-${n}`,
    name: `Contract Product ${n}`,
    description: '',
    priceAmount: 1000 + n,
    currency: 'USD',
    categoryId: 'cat-lamps',
    brandId: 'brand-lumen',
    ...overrides,
  };
}

function written<T extends object>(result: T | null): Exclude<T, { kind: string }> {
  if (result === null || 'kind' in result) throw new Error(`not written: ${JSON.stringify(result)}`);
  return result as Exclude<T, { kind: string }>;
}

/**
 * What every ProductCatalog adapter must do; run against each available adapter, opened with
 * its index outbox recorded (as when its index is kept apart from it).
 */
export function productCatalogContract(open: () => Promise<{ catalog: ProductCatalog; release(): Promise<void> }>) {
  let catalog: ProductCatalog;
  let release: () => Promise<void>;

  beforeAll(async () => {
    ({ catalog, release } = await open());
  });
  afterAll(() => release());

  it('answers ready and starts empty', async () => {
    expect(await catalog.ready()).toBe(true);
    expect(await catalog.isEmpty()).toBe(true);
  });

  it('imports a whole catalog in a few statements, keeping ids and creation dates', async () => {
    const before = catalog.statementCount();
    await catalog.insertCatalog({ ...fixture, products: fixture.products.map(withCurrency) });
    expect(catalog.statementCount() - before).toBeLessThanOrEqual(5);
    expect(await catalog.isEmpty()).toBe(false);
    const [first] = await catalog.productsByIds([productId(1)]);
    expect(first).toEqual({
      ...withCurrency(fixture.products[0]!),
      updatedAt: fixture.products[0]!.createdAt,
      version: 1,
      archivedAt: null,
    });
  });

  it('an import that fails part-way writes nothing', async () => {
    const good = { ...withCurrency(fixture.products[0]!), id: 'import-good', sku: 'IMPORT-GOOD' };
    const bad = { ...good, id: 'import-bad', sku: 'IMPORT-BAD', priceAmount: -1 };
    await expect(
      catalog.insertCatalog({
        categories: [{ id: 'cat-import', slug: 'import', name: 'Import', description: '' }],
        brands: [],
        products: [good, bad],
      }),
    ).rejects.toThrow();
    expect(await catalog.productsByIds(['import-good', 'import-bad'])).toEqual([]);
    expect(await catalog.categoriesByIds(['cat-import'])).toEqual([]);
  });

  it('records every imported product in the index outbox at version 1, and nothing of an import that failed', async () => {
    const pending = await catalog.pendingIndexChanges(1000);
    expect(pending.map((p) => p.id).sort()).toEqual(fixture.products.map((p) => p.id).sort());
    expect(pending.every((p) => p.version === 1 && p.archivedAt === null)).toBe(true);
    await catalog.markIndexed(pending.map(stamp));
    expect(await catalog.pendingIndexChanges(1000)).toEqual([]);
  });

  it('reads many products, categories and brands by id in one statement each; unknown ids are absent', async () => {
    const ids = fixture.products.slice(0, 25).map((p) => p.id);
    let before = catalog.statementCount();
    const found = await catalog.productsByIds([...ids, 'missing']);
    expect(catalog.statementCount() - before).toBe(1);
    expect(found.map((p) => p.id).sort()).toEqual(ids);

    before = catalog.statementCount();
    const categories = await catalog.categoriesByIds(['cat-lamps', 'cat-chairs', 'missing']);
    const brands = await catalog.brandsByIds(['brand-lumen', 'missing']);
    expect(catalog.statementCount() - before).toBe(2);
    expect(categories.map((c) => c.slug).sort()).toEqual(['chairs', 'lamps']);
    expect(brands).toEqual([{ id: 'brand-lumen', slug: 'lumen', name: 'Lumen' }]);

    before = catalog.statementCount();
    expect(await catalog.productsByIds([])).toEqual([]);
    expect(catalog.statementCount() - before).toBe(0);
  });

  it('lists categories and brands by name', async () => {
    expect((await catalog.listCategories()).map((c) => c.name)).toEqual(['Chairs', 'Lamps', 'Rugs', 'Sofas', 'Tables']);
    expect((await catalog.listBrands()).map((b) => b.name)).toEqual(['Lumen', 'Nordwood', 'Oakline', 'Vacant']);
  });

  it('creates a product with timestamps set by the store', async () => {
    const created = await catalog.createProduct({
      id: 'new-1',
      sku: 'NEW-1',
      name: 'Walnut Stool',
      description: 'Three legs.',
      priceAmount: 4200,
      currency: 'USD',
      categoryId: 'cat-chairs',
      brandId: 'brand-oakline',
    });
    expect(created).toMatchObject({ id: 'new-1', sku: 'NEW-1', priceAmount: 4200, currency: 'USD' });
    if ('kind' in created) throw new Error('refused');
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(created.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(await catalog.productsByIds(['new-1'])).toEqual([created]);
  });

  it('refuses a taken SKU, an unknown category and an unknown brand, writing nothing', async () => {
    const product = {
      id: 'new-2',
      sku: 'NEW-1',
      name: 'Pine Stool',
      description: '',
      priceAmount: 100,
      currency: 'USD',
      categoryId: 'cat-chairs',
      brandId: 'brand-oakline',
    };
    expect(await catalog.createProduct(product)).toEqual({ kind: 'duplicate-sku' });
    expect(await catalog.createProduct({ ...product, sku: 'NEW-2', categoryId: 'nope' })).toEqual({ kind: 'unknown-category' });
    expect(await catalog.createProduct({ ...product, sku: 'NEW-2', brandId: 'nope' })).toEqual({ kind: 'unknown-brand' });
    expect(await catalog.productsByIds(['new-2'])).toEqual([]);
  });

  it('refuses a negative price at the database', async () => {
    await expect(
      catalog.createProduct({
        id: 'new-3',
        sku: 'NEW-3',
        name: 'Free Money',
        description: '',
        priceAmount: -5,
        currency: 'USD',
        categoryId: 'cat-chairs',
        brandId: 'brand-oakline',
      }),
    ).rejects.toThrow();
  });

  it('updates given fields only and moves updatedAt', async () => {
    const [before] = await catalog.productsByIds(['new-1']);
    const updated = await catalog.updateProduct('new-1', { name: 'Walnut Bar Stool', priceAmount: 5100 });
    if (!updated || 'kind' in updated) throw new Error('not updated');
    expect(updated).toMatchObject({ name: 'Walnut Bar Stool', priceAmount: 5100, sku: 'NEW-1', description: 'Three legs.' });
    expect(updated.createdAt).toEqual(before!.createdAt);
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(before!.updatedAt.getTime());
  });

  it('updating an unknown product answers null; a taken SKU or unknown references are refused', async () => {
    expect(await catalog.updateProduct('missing', { name: 'X' })).toBeNull();
    expect(await catalog.updateProduct('new-1', { sku: 'SKU-0001' })).toEqual({ kind: 'duplicate-sku' });
    expect(await catalog.updateProduct('new-1', { categoryId: 'nope' })).toEqual({ kind: 'unknown-category' });
    expect(await catalog.updateProduct('new-1', { brandId: 'nope' })).toEqual({ kind: 'unknown-brand' });
    const [after] = await catalog.productsByIds(['new-1']);
    expect(after).toMatchObject({ sku: 'NEW-1', categoryId: 'cat-chairs', brandId: 'brand-oakline' });
  });

  describe('versions and archiving', () => {
    let product: ProductRecord;

    it('creates a product at version 1, on sale, and every update adds one', async () => {
      const created = written(await catalog.createProduct(newProduct(1)));
      expect(created).toMatchObject({ version: 1, archivedAt: null });
      const renamed = written(await catalog.updateProduct(created.id, { name: 'Contract Lamp' }));
      expect(renamed).toMatchObject({ name: 'Contract Lamp', version: 2 });
      product = written(await catalog.updateProduct(created.id, { priceAmount: 1999 }));
      expect(product).toMatchObject({ name: 'Contract Lamp', priceAmount: 1999, version: 3, archivedAt: null });
      expect(product.updatedAt.getTime()).toBeGreaterThanOrEqual(renamed.updatedAt.getTime());
    });

    it('a refused write changes no version', async () => {
      expect(await catalog.updateProduct(product.id, { sku: 'SKU-0001' })).toEqual({ kind: 'duplicate-sku' });
      expect(await catalog.updateProduct(product.id, { brandId: 'nope' })).toEqual({ kind: 'unknown-brand' });
      expect(await catalog.productsByIds([product.id])).toEqual([product]);
    });

    it('archives a product: archivedAt and updatedAt set, one more version, still read by id', async () => {
      const archived = written(await catalog.archiveProduct(product.id));
      expect(archived).toMatchObject({ ...product, version: 4, archivedAt: expect.any(Date), updatedAt: expect.any(Date) });
      expect(archived.archivedAt).toEqual(archived.updatedAt);
      expect(archived.updatedAt.getTime()).toBeGreaterThanOrEqual(product.updatedAt.getTime());
      expect(Math.abs(archived.archivedAt!.getTime() - Date.now())).toBeLessThan(60_000);
      expect(await catalog.productsByIds([product.id])).toEqual([archived]);
      product = archived;
    });

    it('archiving an archived product changes nothing and answers it as it is', async () => {
      expect(await catalog.archiveProduct(product.id)).toEqual(product);
      expect(await catalog.productsByIds([product.id])).toEqual([product]);
    });

    it('archiving an unknown product answers null', async () => {
      expect(await catalog.archiveProduct('missing')).toBeNull();
    });

    it('an archived product can still be changed, and stays archived', async () => {
      const changed = written(await catalog.updateProduct(product.id, { description: 'Discontinued.' }));
      expect(changed).toMatchObject({ description: 'Discontinued.', version: 5, archivedAt: product.archivedAt });
      product = changed;
    });
  });

  it('pages through every product, archived ones too, each once, in an order that holds between calls', async () => {
    const everything = await catalog.productsAfter(null, 1000);
    const ids: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 100; pages += 1) {
      const page: ProductRecord[] = await catalog.productsAfter(after, 7);
      expect(page.length).toBeLessThanOrEqual(7);
      if (page.length === 0) break;
      ids.push(...page.map((p) => p.id));
      after = page.at(-1)!.id;
    }
    expect(ids).toEqual(everything.map((p) => p.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining([...fixture.products.map((p) => p.id), 'new-1', 'contract-1']));
    expect(everything.find((p) => p.id === 'contract-1')?.archivedAt).toBeInstanceOf(Date);
    expect(await catalog.productsAfter(null, 0)).toEqual([]);
  });

  describe('index outbox', () => {
    /** Confirms everything waiting, as a relay would. */
    async function drain() {
      for (;;) {
        const pending = await catalog.pendingIndexChanges(100);
        if (pending.length === 0) return;
        await catalog.markIndexed(pending.map(stamp));
      }
    }

    beforeAll(() => drain());

    it('records each written product once, as it is now, until it is confirmed', async () => {
      const first = written(await catalog.createProduct(newProduct(2)));
      expect(await catalog.pendingIndexChanges(10)).toEqual([first]);
      const changed = written(await catalog.updateProduct(first.id, { name: 'Contract Rug' }));
      const second = written(await catalog.createProduct(newProduct(3)));
      // Still one entry for the product written twice, in its place: the longest waiting first.
      expect(await catalog.pendingIndexChanges(10)).toEqual([changed, second]);
      expect(await catalog.pendingIndexChanges(10)).toEqual([changed, second]);
      await catalog.markIndexed([stamp(changed), stamp(second)]);
      expect(await catalog.pendingIndexChanges(10)).toEqual([]);
    });

    it('a confirmation of an older version leaves the newer write pending', async () => {
      const [before] = await catalog.productsByIds(['contract-2']);
      const newer = written(await catalog.updateProduct('contract-2', { priceAmount: 2222 }));
      // The relay read the product before this write and confirms what it delivered.
      await catalog.markIndexed([stamp(before!)]);
      expect(await catalog.pendingIndexChanges(10)).toEqual([newer]);
      await catalog.markIndexed([stamp(newer)]);
      expect(await catalog.pendingIndexChanges(10)).toEqual([]);
    });

    it('records archiving, but not archiving again, a refused write or a write to no product', async () => {
      const archived = written(await catalog.archiveProduct('contract-3'));
      expect(await catalog.pendingIndexChanges(10)).toEqual([archived]);
      await drain();
      expect(await catalog.archiveProduct('contract-3')).toEqual(archived);
      expect(await catalog.createProduct(newProduct(4, { sku: 'SKU-0001' }))).toEqual({ kind: 'duplicate-sku' });
      expect(await catalog.createProduct(newProduct(4, { categoryId: 'nope' }))).toEqual({ kind: 'unknown-category' });
      expect(await catalog.updateProduct('contract-3', { sku: 'SKU-0002' })).toEqual({ kind: 'duplicate-sku' });
      expect(await catalog.updateProduct('missing', { name: 'X' })).toBeNull();
      expect(await catalog.pendingIndexChanges(10)).toEqual([]);
    });

    it('answers at most the limit, the longest waiting first', async () => {
      const ids = [productId(3), productId(1), productId(2)];
      const changed: ProductRecord[] = [];
      for (const id of ids) {
        changed.push(written(await catalog.updateProduct(id, { description: 'Changed.' })));
        // Apart by more than a store's clock resolution (a millisecond on MongoDB), so their order is certain.
        await sleep(5);
      }
      expect(await catalog.pendingIndexChanges(2)).toEqual(changed.slice(0, 2));
      expect(await catalog.pendingIndexChanges(0)).toEqual([]);
      await catalog.markIndexed([]);
      await catalog.markIndexed(changed.slice(0, 2).map(stamp));
      expect(await catalog.pendingIndexChanges(2)).toEqual([changed[2]]);
      await drain();
    });
  });
}
