import type { Scope } from '../../../platform/auth';
import { serveTestSubgraph, storeBackends, testDeps, type TestDeps } from '../../../platform/testing';
import { seedCatalog } from '../seed';
import { openCatalogStore, productSearchSubgraph } from '../subgraph';
import type { CatalogStore } from '../store/port';
import { catalogFixture, fixtureShop } from './catalog-fixture';

const fixture = catalogFixture(60);

describe.each(storeBackends())('product-search subgraph over HTTP on %s', (backend) => {
  let deps: TestDeps;
  let store: CatalogStore;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let admin: string;
  let customer: string;

  beforeAll(async () => {
    deps = await testDeps(backend, ['product-search']);
    store = await openCatalogStore(deps);
    const definition = productSearchSubgraph(store, deps.config.SHOP_CURRENCY);
    expect(await seedCatalog(definition.service, fixtureShop(fixture))).toBe(true);
    server = await serveTestSubgraph(definition, deps);
    admin = await deps.bearer('admin-1', ['customer', 'admin'] as Scope[]);
    customer = await deps.bearer('customer-1');
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  const PRODUCT_FIELDS = 'id sku name description price { amount currency formatted } category { id slug name } brand { id name } createdAt';

  describe('reading the catalog', () => {
    it('answers a product with its price, category, brand and creation time', async () => {
      const p = fixture.products[0]!;
      const res = await server.query(`query($id: ID!) { product(id: $id) { ${PRODUCT_FIELDS} } }`, { id: p.id });
      expect(res.errors).toBeUndefined();
      expect(res.data!.product).toEqual({
        id: p.id,
        sku: p.sku,
        name: p.name,
        description: p.description,
        price: { amount: 1500, currency: 'USD', formatted: '$15.00' },
        category: { id: 'cat-chairs', slug: 'chairs', name: 'Chairs' },
        brand: { id: p.brandId, name: expect.any(String) },
        createdAt: p.createdAt.toISOString(),
      });
    });

    it('hands no federated trace (timings of its resolvers) to a caller that asks for one', async () => {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'apollo-federation-include-trace': 'ftv1' },
        body: JSON.stringify({ query: `{ products(ids: ["${fixture.products[0]!.id}"]) { id name } }` }),
      });
      const body = (await response.json()) as { data: unknown; extensions?: unknown };
      expect(body).toEqual({ data: { products: [{ id: fixture.products[0]!.id, name: fixture.products[0]!.name }] } });
    });

    it('answers null for an unknown product', async () => {
      const res = await server.query('{ product(id: "no-such-product") { id } }');
      expect(res).toEqual({ data: { product: null } });
    });

    it('answers products in the order asked, null for unknown ids', async () => {
      const ids = [fixture.products[2]!.id, 'missing', fixture.products[1]!.id];
      const res = await server.query('query($ids: [ID!]!) { products(ids: $ids) { id } }', { ids });
      expect(res.data!.products).toEqual([{ id: ids[0] }, null, { id: ids[2] }]);
    });

    it('refuses more than 100 ids', async () => {
      const ids = Array.from({ length: 101 }, (_, i) => `id-${i}`);
      const res = await server.query('query($ids: [ID!]!) { products(ids: $ids) { id } }', { ids });
      expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });

    it('lists categories and brands by name', async () => {
      const res = await server.query('{ categories { slug name description } brands { slug name } }');
      expect(res.data!.categories.map((c: { slug: string }) => c.slug)).toEqual(['chairs', 'lamps', 'rugs', 'sofas', 'tables']);
      expect(res.data!.categories[0]).toEqual({ slug: 'chairs', name: 'Chairs', description: 'Seats for one.' });
      expect(res.data!.brands.map((b: { name: string }) => b.name)).toEqual(['Lumen', 'Nordwood', 'Oakline', 'Vacant']);
    });

    it('does not seed a catalog that has data', async () => {
      const definition = productSearchSubgraph(store, 'USD');
      expect(await seedCatalog(definition.service, fixtureShop(catalogFixture(3)))).toBe(false);
    });
  });

  describe('federation references', () => {
    const ENTITIES = `query($reps: [_Any!]!) { _entities(representations: $reps) {
      ... on Product { id name price { amount } category { name } brand { name } }
      ... on Category { id slug }
      ... on Brand { id slug } } }`;

    async function statementsFor(count: number): Promise<{ statements: number; entities: unknown[] }> {
      const reps = fixture.products.slice(0, count).map((p) => ({ __typename: 'Product', id: p.id }));
      const before = store.catalog.statementCount();
      const res = await server.query(ENTITIES, { reps });
      expect(res.errors).toBeUndefined();
      return { statements: store.catalog.statementCount() - before, entities: res.data!._entities };
    }

    it('resolves 50 products with their category and brand in a constant number of statements', async () => {
      const few = await statementsFor(5);
      const many = await statementsFor(50);
      expect(many.entities).toHaveLength(50);
      expect(many.entities[49]).toEqual({
        id: fixture.products[49]!.id,
        name: fixture.products[49]!.name,
        price: { amount: fixture.products[49]!.priceAmount },
        category: { name: expect.any(String) },
        brand: { name: expect.any(String) },
      });
      // One batched read each for products, categories and brands.
      expect(many.statements).toBe(3);
      expect(few.statements).toBe(many.statements);
    });

    it('resolves categories and brands, and null for unknown references', async () => {
      const res = await server.query(ENTITIES, {
        reps: [
          { __typename: 'Category', id: 'cat-lamps' },
          { __typename: 'Brand', id: 'brand-lumen' },
          { __typename: 'Product', id: 'missing' },
        ],
      });
      expect(res.data!._entities).toEqual([{ id: 'cat-lamps', slug: 'lamps' }, { id: 'brand-lumen', slug: 'lumen' }, null]);
    });
  });

  describe('searching', () => {
    const SEARCH = `query($query: String, $filter: ProductFilter, $sort: ProductSort, $first: Int, $after: String) {
      searchProducts(query: $query, filter: $filter, sort: $sort, first: $first, after: $after) {
        totalCount
        edges { cursor node { id name price { amount } } }
        pageInfo { hasNextPage endCursor }
        facets {
          categories { value { slug } count }
          brands { value { name } count }
          priceBands { min { amount formatted } max { amount } count }
        }
      } }`;

    it('finds tables for "tabel" and counts facets over the whole result', async () => {
      const res = await server.query(SEARCH, { query: 'tabel', first: 2 });
      expect(res.errors).toBeUndefined();
      const result = res.data!.searchProducts;
      const tables = fixture.products.filter((p) => /Table/.test(p.name));
      expect(result.totalCount).toBe(tables.length);
      expect(result.edges).toHaveLength(2);
      expect(result.edges.every((e: { node: { name: string } }) => /Table/.test(e.node.name))).toBe(true);
      expect(result.pageInfo).toEqual({ hasNextPage: true, endCursor: result.edges[1].cursor });
      expect(result.facets.categories).toEqual([{ value: { slug: 'tables' }, count: tables.length }]);
      const bandTotal = result.facets.priceBands.reduce((n: number, b: { count: number }) => n + b.count, 0);
      expect(bandTotal).toBe(tables.length);
      expect(result.facets.priceBands[0].min).toEqual({ amount: 0, formatted: '$0.00' });
      expect(result.facets.priceBands.at(-1).max).toBeNull();
    });

    it('ranks products with both words first', async () => {
      const res = await server.query(SEARCH, { query: 'wooden chair', first: 4 });
      const names = res.data!.searchProducts.edges.map((e: { node: { name: string } }) => e.node.name);
      expect(names.slice(0, 3).sort()).toEqual(['Classic Wooden Chair', 'Modern Wooden Chair', 'Rustic Wooden Chair']);
      expect(names[3]).toBe('Garden Chair');
    });

    it('pages with cursors through the whole catalog without duplicates or gaps', async () => {
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const res: { data?: any; errors?: unknown } = await server.query(SEARCH, { sort: 'PRICE_DESC', first: 7, after });
        expect(res.errors).toBeUndefined();
        const page = res.data!.searchProducts;
        seen.push(...page.edges.map((e: { node: { id: string } }) => e.node.id));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(seen).toHaveLength(fixture.products.length);
      expect(new Set(seen).size).toBe(fixture.products.length);
      const prices = seen.map((id) => fixture.products.find((p) => p.id === id)!.priceAmount);
      expect(prices).toEqual([...prices].sort((a, b) => b - a));
    });

    it('lists by name when there is no text', async () => {
      const res = await server.query(SEARCH, { first: 3 });
      const names = res.data!.searchProducts.edges.map((e: { node: { name: string } }) => e.node.name);
      expect(names).toEqual(['Bedside Lamp', 'Classic Oak Chair', 'Classic Oak Lamp']);
      expect(res.data!.searchProducts.totalCount).toBe(fixture.products.length);
    });

    it('filters by category, brand and price', async () => {
      const filter = { categoryIds: ['cat-lamps'], brandIds: ['brand-lumen'], minPrice: 2500, maxPrice: 60000 };
      const res = await server.query(SEARCH, { filter, first: 100 });
      const expected = fixture.products.filter(
        (p) => p.categoryId === 'cat-lamps' && p.brandId === 'brand-lumen' && p.priceAmount >= 2500 && p.priceAmount <= 60000,
      );
      expect(res.data!.searchProducts.totalCount).toBe(expected.length);
      expect(res.data!.searchProducts.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual(
        expected.map((p) => p.id).sort(),
      );
      expect(res.data!.searchProducts.facets.brands).toEqual([{ value: { name: 'Lumen' }, count: expected.length }]);
    });

    it.each([
      ['a page over 100', { first: 101 }],
      ['a negative page size', { first: -1 }],
      ['a cursor that is not one', { after: 'not-a-cursor' }],
      ['a negative minimum price', { filter: { minPrice: -1 } }],
      ['a negative maximum price', { filter: { maxPrice: -1 } }],
      ['a minimum above the maximum', { filter: { minPrice: 500, maxPrice: 100 } }],
      ['text over 200 characters', { query: 'a'.repeat(201) }],
    ])('refuses %s with BAD_USER_INPUT', async (_label, variables) => {
      const res = await server.query(SEARCH, variables);
      expect(res.data).toBeNull();
      expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });

    it('refuses a cursor from a search in another order', async () => {
      const first = await server.query(SEARCH, { sort: 'PRICE_ASC', first: 1 });
      const after = first.data!.searchProducts.pageInfo.endCursor;
      const res = await server.query(SEARCH, { sort: 'NEWEST', first: 1, after });
      expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });
  });

  describe('predictive search', () => {
    const PREDICT = `query($query: String!, $first: Int) { predictiveSearch(query: $query, first: $first) {
      query
      products { product { name price { formatted } } highlights { start length } }
      categories { category { slug name } highlights { start length } }
      brands { brand { name } highlights { start length } } } }`;
    type Range = { start: number; length: number };
    const marked = (name: string, highlights: Range[]) => highlights.map(({ start, length }) => name.slice(start, start + length));

    it('suggests products, categories and brands for a typed prefix, the matching parts marked', async () => {
      const res = await server.query(PREDICT, { query: ' oak  ta', first: 3 });
      expect(res.errors).toBeUndefined();
      const result = res.data!.predictiveSearch;
      expect(result.query).toBe('oak ta');
      expect(result.products.map((s: { product: { name: string } }) => s.product.name)).toEqual([
        'Modern Oak Table',
        'Rustic Oak Table',
        'Classic Oak Table',
      ]);
      for (const { product, highlights } of result.products) expect(marked(product.name, highlights)).toEqual(['Oak', 'Ta']);
      expect(result.products[0].product.price.formatted).toMatch(/^\$/);
    });

    it('forgives a typo and marks the word it meant', async () => {
      const result = (await server.query(PREDICT, { query: 'tabel' })).data!.predictiveSearch;
      expect(result.products).toHaveLength(5);
      for (const { product, highlights } of result.products) expect(marked(product.name, highlights)).toEqual(['Table']);
      expect(result.categories).toEqual([{ category: { slug: 'tables', name: 'Tables' }, highlights: [{ start: 0, length: 5 }] }]);
    });

    it('suggests brands by name', async () => {
      const result = (await server.query(PREDICT, { query: 'Lum' })).data!.predictiveSearch;
      expect(result.brands).toEqual([{ brand: { name: 'Lumen' }, highlights: [{ start: 0, length: 3 }] }]);
    });

    it('suggests nothing for blank text', async () => {
      const res = await server.query(PREDICT, { query: '   ' });
      expect(res).toEqual({ data: { predictiveSearch: { query: '', products: [], categories: [], brands: [] } } });
    });

    it('refuses more than 20 suggestions of a kind', async () => {
      const res = await server.query(PREDICT, { query: 'oak', first: 21 });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    });
  });

  describe('admin mutations', () => {
    const CREATE = `mutation($input: CreateProductInput!) { createProduct(input: $input) {
      id sku name price { amount currency } category { slug } brand { slug } createdAt } }`;
    const UPDATE = `mutation($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) {
      id sku name description price { amount } category { slug } brand { slug } } }`;
    const input = {
      sku: 'ZEP-1',
      name: 'Zeppelin Armchair',
      description: 'Floats above the rest.',
      price: 34_900,
      categoryId: 'cat-chairs',
      brandId: 'brand-lumen',
    };

    it('refuses anonymous callers, invalid tokens and customers', async () => {
      expect((await server.query(CREATE, { input })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((await server.query(CREATE, { input }, 'Bearer not-a-token')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((await server.query(CREATE, { input }, customer)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const update = { id: fixture.products[0]!.id, input: { name: 'Hacked' } };
      expect((await server.query(UPDATE, update)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((await server.query(UPDATE, update, customer)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const search = await server.query('{ searchProducts(query: "zeppelin hacked") { totalCount } }');
      expect(search.data!.searchProducts.totalCount).toBe(0);
    });

    let createdId: string;

    it('lets an admin add a product in the shop currency, searchable at once', async () => {
      const res = await server.query(CREATE, { input }, admin);
      expect(res.errors).toBeUndefined();
      const created = res.data!.createProduct;
      expect(created).toMatchObject({
        sku: 'ZEP-1',
        name: 'Zeppelin Armchair',
        price: { amount: 34_900, currency: deps.config.SHOP_CURRENCY },
        category: { slug: 'chairs' },
        brand: { slug: 'lumen' },
      });
      expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
      createdId = created.id;
      const search = await server.query('{ searchProducts(query: "zepelin") { edges { node { id } } } }');
      expect(search.data!.searchProducts.edges).toEqual([{ node: { id: createdId } }]);
    });

    it.each([
      ['a taken sku', { sku: 'ZEP-1' }, 'sku'],
      ['an unknown category', { sku: 'ZEP-2', categoryId: 'nope' }, 'categoryId'],
      ['an unknown brand', { sku: 'ZEP-2', brandId: 'nope' }, 'brandId'],
      ['a negative price', { sku: 'ZEP-2', price: -1 }, 'price'],
      ['an empty name', { sku: 'ZEP-2', name: '  ' }, 'name'],
    ])('refuses to create a product with %s', async (_label, change, field) => {
      const res = await server.query(CREATE, { input: { ...input, ...change } }, admin);
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    });

    it('lets an admin change some fields, keeping the others, and search finds the new name', async () => {
      const res = await server.query(UPDATE, { id: createdId, input: { name: 'Zeppelin Recliner', price: 39_900, brandId: 'brand-oakline' } }, admin);
      expect(res.errors).toBeUndefined();
      expect(res.data!.updateProduct).toEqual({
        id: createdId,
        sku: 'ZEP-1',
        name: 'Zeppelin Recliner',
        description: 'Floats above the rest.',
        price: { amount: 39_900 },
        category: { slug: 'chairs' },
        brand: { slug: 'oakline' },
      });
      const search = await server.query('{ searchProducts(query: "recliner") { edges { node { id name } } } }');
      expect(search.data!.searchProducts.edges).toEqual([{ node: { id: createdId, name: 'Zeppelin Recliner' } }]);
    });

    it('an empty update answers the product unchanged', async () => {
      const res = await server.query(UPDATE, { id: createdId, input: {} }, admin);
      expect(res.data!.updateProduct).toMatchObject({ id: createdId, name: 'Zeppelin Recliner' });
    });

    it.each([
      ['an unknown product', 'missing', { name: 'X' }, 'NOT_FOUND'],
      ['an unknown product, with nothing to change', 'missing', {}, 'NOT_FOUND'],
      ['a sku another product has', null, { sku: fixture.products[0]!.sku }, 'BAD_USER_INPUT'],
      ['an unknown category', null, { categoryId: 'nope' }, 'BAD_USER_INPUT'],
      ['an unknown brand', null, { brandId: 'nope' }, 'BAD_USER_INPUT'],
      ['a negative price', null, { price: -100 }, 'BAD_USER_INPUT'],
    ])('refuses to update %s', async (_label, id, change, code) => {
      const res = await server.query(UPDATE, { id: id ?? createdId, input: change }, admin);
      expect(res.errors?.[0]?.extensions?.code).toBe(code);
      const after = await server.query('query($id: ID!) { product(id: $id) { sku name price { amount } } }', { id: createdId });
      expect(after.data!.product).toEqual({ sku: 'ZEP-1', name: 'Zeppelin Recliner', price: { amount: 39_900 } });
    });
  });

  describe('archiving a product', () => {
    const ARCHIVE = 'mutation($id: ID!) { archiveProduct(id: $id) { id name archived archivedAt } }';
    const PRODUCT = 'query($id: ID!) { product(id: $id) { id name archived archivedAt } }';
    // A product of its own: the other tests' counts of the fixture stay as they are.
    let id: string;
    let archivedAt: string;

    beforeAll(async () => {
      const res = await server.query(
        `mutation($input: CreateProductInput!) { createProduct(input: $input) { id archived archivedAt } }`,
        {
          input: { sku: 'QUOKKA-1', name: 'Quokka Lantern', description: 'Soon gone.', price: 2_900, categoryId: 'cat-lamps', brandId: 'brand-lumen' },
        },
        admin,
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.createProduct).toMatchObject({ archived: false, archivedAt: null });
      id = res.data!.createProduct.id;
    });

    const searchIds = async (query: string) =>
      (await server.query('query($q: String) { searchProducts(query: $q) { totalCount edges { node { id } } } }', { q: query })).data!
        .searchProducts;
    const suggestedNames = async (query: string) =>
      (await server.query('query($q: String!) { predictiveSearch(query: $q) { products { product { name } } } }', { q: query })).data!
        .predictiveSearch.products.map((s: { product: { name: string } }) => s.product.name);

    it('refuses anonymous callers and customers, archiving nothing', async () => {
      expect((await server.query(ARCHIVE, { id })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((await server.query(ARCHIVE, { id }, customer)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await server.query(PRODUCT, { id })).data!.product).toMatchObject({ archived: false, archivedAt: null });
      expect((await searchIds('quokka')).edges).toEqual([{ node: { id } }]);
      expect(await suggestedNames('quok')).toEqual(['Quokka Lantern']);
    });

    it('answers NOT_FOUND for an unknown product', async () => {
      const res = await server.query(ARCHIVE, { id: 'missing' }, admin);
      expect(res.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    });

    it('lets an admin archive a product: it leaves search and suggestions at once', async () => {
      // Read first, so the product is cached and the archive has something to invalidate.
      await server.query(PRODUCT, { id });
      const res = await server.query(ARCHIVE, { id }, admin);
      expect(res.errors).toBeUndefined();
      expect(res.data!.archiveProduct).toEqual({ id, name: 'Quokka Lantern', archived: true, archivedAt: expect.any(String) });
      archivedAt = res.data!.archiveProduct.archivedAt;
      expect(Math.abs(Date.parse(archivedAt) - Date.now())).toBeLessThan(60_000);
      expect(await searchIds('quokka')).toEqual({ totalCount: 0, edges: [] });
      expect(await suggestedNames('quok')).toEqual([]);
      const lamps = await server.query('{ searchProducts(filter: { categoryIds: ["cat-lamps"] }, first: 100) { totalCount edges { node { id } } } }');
      expect(lamps.data!.searchProducts.edges).not.toContainEqual({ node: { id } });
      expect(lamps.data!.searchProducts.totalCount).toBe(fixture.products.filter((p) => p.categoryId === 'cat-lamps').length);
    });

    it('still answers the archived product by id and by reference, as archived', async () => {
      expect((await server.query(PRODUCT, { id })).data!.product).toEqual({ id, name: 'Quokka Lantern', archived: true, archivedAt });
      const byIds = await server.query('query($ids: [ID!]!) { products(ids: $ids) { id archived } }', { ids: [id] });
      expect(byIds.data!.products).toEqual([{ id, archived: true }]);
      const entities = await server.query('query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Product { id name archived } } }', {
        reps: [{ __typename: 'Product', id }],
      });
      expect(entities.data!._entities).toEqual([{ id, name: 'Quokka Lantern', archived: true }]);
    });

    it('archiving again changes nothing', async () => {
      const res = await server.query(ARCHIVE, { id }, admin);
      expect(res.errors).toBeUndefined();
      expect(res.data!.archiveProduct).toEqual({ id, name: 'Quokka Lantern', archived: true, archivedAt });
    });

    it('an archived product can still be edited, and stays out of search', async () => {
      const res = await server.query(
        'mutation($id: ID!) { updateProduct(id: $id, input: { name: "Quokka Lantern (old)" }) { name archived archivedAt } }',
        { id },
        admin,
      );
      expect(res.data!.updateProduct).toEqual({ name: 'Quokka Lantern (old)', archived: true, archivedAt });
      expect((await searchIds('quokka')).totalCount).toBe(0);
    });
  });
});
