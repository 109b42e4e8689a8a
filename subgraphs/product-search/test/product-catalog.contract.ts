import type { ProductCatalog } from '../store/port';
import { catalogFixture, productId } from './catalog-fixture';

const fixture = catalogFixture(40);
const withCurrency = <T extends object>(p: T) => ({ ...p, currency: 'USD' });

/** What every ProductCatalog adapter must do; run against each available adapter. */
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
}
