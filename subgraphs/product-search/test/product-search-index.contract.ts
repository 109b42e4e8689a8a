import { buildPredictiveQuery } from '../predictive-query';
import { parseSearchText, priceBandIndex, priceBands, SEARCH_SORTS } from '../search-query';
import type { ProductCatalog, ProductSearchIndex, SearchFilter, SearchQuery, SearchSort } from '../store/port';
import { catalogFixture, compareBytes, type FixtureProduct } from './catalog-fixture';

const fixture = catalogFixture(40);
const bands = priceBands('USD');
const noFilter: SearchFilter = { categoryIds: [], brandIds: [], minPrice: null, maxPrice: null };

function query(overrides: Omit<Partial<SearchQuery>, 'text'> & { text?: string } = {}): SearchQuery {
  const { text, ...rest } = overrides;
  return {
    text: text === undefined ? null : parseSearchText(text),
    filter: noFilter,
    sort: 'NAME_ASC',
    limit: 100,
    after: null,
    priceBands: bands,
    ...rest,
  };
}

const byId = (a: FixtureProduct, b: FixtureProduct) => compareBytes(a.id, b.id);
/** The order each browse sort must produce, computed from the fixture. */
const EXPECTED_ORDER: Record<Exclude<SearchSort, 'RELEVANCE'>, (a: FixtureProduct, b: FixtureProduct) => number> = {
  NAME_ASC: (a, b) => compareBytes(a.name.toLowerCase(), b.name.toLowerCase()) || byId(a, b),
  PRICE_ASC: (a, b) => a.priceAmount - b.priceAmount || byId(a, b),
  PRICE_DESC: (a, b) => b.priceAmount - a.priceAmount || byId(a, b),
  NEWEST: (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || byId(a, b),
};

const names = (ids: readonly string[]) => ids.map((id) => fixture.products.find((p) => p.id === id)?.name ?? id);

/** What every ProductSearchIndex adapter must do, over the catalog it indexes. */
export function productSearchIndexContract(
  open: () => Promise<{ catalog: ProductCatalog; index: ProductSearchIndex; release(): Promise<void> }>,
) {
  let catalog: ProductCatalog;
  let index: ProductSearchIndex;
  let release: () => Promise<void>;

  /** Every hit of a query, page by page, following each page's last position. */
  async function allPages(q: SearchQuery): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let after = null;
    for (let pages = 1; pages < 100; pages += 1) {
      const page = await index.search({ ...q, after });
      ids.push(...page.hits.map((h) => h.id));
      if (!page.hasMore) return { ids, pages };
      after = page.hits.at(-1)!.position;
    }
    throw new Error('pagination does not end');
  }

  beforeAll(async () => {
    ({ catalog, index, release } = await open());
    const products = fixture.products.map((p) => ({ ...p, currency: 'USD' }));
    await catalog.insertCatalog({ ...fixture, products });
    await index.indexProducts(products.map((p) => ({ ...p, updatedAt: p.createdAt, version: 1, archivedAt: null })));
  });
  afterAll(() => release());

  it('answers ready', async () => {
    expect(await index.ready()).toBe(true);
  });

  describe('without search text', () => {
    it.each(Object.keys(EXPECTED_ORDER) as (keyof typeof EXPECTED_ORDER)[])('sorts %s with the id breaking ties', async (sort) => {
      const page = await index.search(query({ sort }));
      const expected = [...fixture.products].sort(EXPECTED_ORDER[sort]).map((p) => p.id);
      expect(page.hits.map((h) => h.id)).toEqual(expected);
      expect(page.totalCount).toBe(40);
      expect(page.hasMore).toBe(false);
    });

    it.each(Object.keys(EXPECTED_ORDER) as (keyof typeof EXPECTED_ORDER)[])(
      'pages through %s without duplicates or gaps, whatever the page size',
      async (sort) => {
        const expected = (await index.search(query({ sort }))).hits.map((h) => h.id);
        for (const limit of [1, 7, 13, 40]) {
          const { ids, pages } = await allPages(query({ sort, limit }));
          expect(ids).toEqual(expected);
          expect(pages).toBe(Math.max(1, Math.ceil(40 / limit)));
        }
      },
    );

    it('a page of 0 hits still counts the whole result and says more follow', async () => {
      const page = await index.search(query({ limit: 0 }));
      expect(page.hits).toEqual([]);
      expect(page.hasMore).toBe(true);
      expect(page.totalCount).toBe(40);
      expect(page.facets.categories.reduce((n, f) => n + f.count, 0)).toBe(40);
    });
  });

  describe('matching text', () => {
    it('ranks products holding both words first, name matches before description matches', async () => {
      const page = await index.search(query({ text: 'wooden chair', sort: 'RELEVANCE' }));
      const top = names(page.hits.map((h) => h.id));
      expect(top.slice(0, 3).sort()).toEqual(['Classic Wooden Chair', 'Modern Wooden Chair', 'Rustic Wooden Chair']);
      expect(top[3]).toBe('Garden Chair');
      // Products with only one of the words still come, after every product with both.
      expect(top).toContain('Classic Oak Chair');
      expect(top).toContain('Classic Wooden Table');
    });

    it('tolerates typos in names: "tabel" finds every table', async () => {
      const { ids } = await allPages(query({ text: 'tabel', sort: 'RELEVANCE', limit: 5 }));
      const tables = fixture.products.filter((p) => /Table/.test(p.name)).map((p) => p.name);
      expect(names(ids).sort()).toEqual(tables.sort());
      expect(tables.length).toBeGreaterThan(5);
    });

    it('tolerates a typo in one of several words', async () => {
      const page = await index.search(query({ text: 'wodden chair', sort: 'RELEVANCE', limit: 3 }));
      expect(names(page.hits.map((h) => h.id)).sort()).toEqual(['Classic Wooden Chair', 'Modern Wooden Chair', 'Rustic Wooden Chair']);
    });

    it('stems words: "chairs" finds chairs', async () => {
      const page = await index.search(query({ text: 'chairs', sort: 'RELEVANCE' }));
      const chairs = fixture.products.filter((p) => /Chair/.test(p.name)).map((p) => p.id);
      expect(page.hits.map((h) => h.id)).toEqual(expect.arrayContaining(chairs));
    });

    it('matches words of the description', async () => {
      const page = await index.search(query({ text: 'dimmer', sort: 'RELEVANCE' }));
      expect(names(page.hits.map((h) => h.id))).toEqual(['Bedside Lamp']);
      expect(page.totalCount).toBe(1);
    });

    it('finds nothing for an unrelated word, with empty facets and zero price bands', async () => {
      const page = await index.search(query({ text: 'xylophone', sort: 'RELEVANCE' }));
      expect(page).toEqual({
        hits: [],
        hasMore: false,
        totalCount: 0,
        facets: { categories: [], brands: [], priceBands: bands.map((b) => ({ ...b, count: 0 })) },
      });
    });

    it('survives search syntax and stop words', async () => {
      for (const text of ['"wooden chair" -oak', 'the', 'chair OR lamp', "o'reilly & (lamp)", '---']) {
        const page = await index.search(query({ text, sort: 'RELEVANCE' }));
        expect(page.totalCount).toBeGreaterThanOrEqual(0);
      }
      // An excluded word keeps a product out even when its name resembles the other words.
      const excluded = names((await index.search(query({ text: 'chair -oak', sort: 'RELEVANCE' }))).hits.map((h) => h.id));
      expect(excluded).toContain('Classic Wooden Chair');
      expect(excluded.filter((name) => /Oak/.test(name))).toEqual([]);
      const phrase = names((await index.search(query({ text: '"tabel" -"rustic oak"', sort: 'RELEVANCE' }))).hits.map((h) => h.id));
      expect(phrase).toContain('Classic Oak Table');
      expect(phrase).not.toContain('Rustic Oak Table');
    });

    it.each(SEARCH_SORTS)('pages through a text search sorted %s without duplicates or gaps', async (sort) => {
      const q = query({ text: 'wooden chair', sort });
      const all = await index.search(q);
      expect(all.totalCount).toBeGreaterThan(10);
      const { ids } = await allPages({ ...q, limit: 4 });
      expect(ids).toEqual(all.hits.map((h) => h.id));
      expect(new Set(ids).size).toBe(all.totalCount);
    });
  });

  describe('filters and facets', () => {
    const expectedFacets = (products: FixtureProduct[]) => {
      const count = (key: (p: FixtureProduct) => string) => {
        const counts = new Map<string, number>();
        for (const p of products) counts.set(key(p), (counts.get(key(p)) ?? 0) + 1);
        return [...counts]
          .map(([id, n]) => ({ id, count: n }))
          .sort((a, b) => b.count - a.count || compareBytes(a.id, b.id));
      };
      return {
        categories: count((p) => p.categoryId),
        brands: count((p) => p.brandId),
        priceBands: bands.map((band, i) => ({
          ...band,
          count: products.filter((p) => priceBandIndex(p.priceAmount, bands) === i).length,
        })),
      };
    };

    it('counts facets over the whole result, not the page', async () => {
      const page = await index.search(query({ limit: 3 }));
      expect(page.hits).toHaveLength(3);
      expect(page.facets).toEqual(expectedFacets(fixture.products));
    });

    it.each<[string, Partial<SearchFilter>, (p: FixtureProduct) => boolean]>([
      ['categories', { categoryIds: ['cat-lamps', 'cat-sofas'] }, (p) => ['cat-lamps', 'cat-sofas'].includes(p.categoryId)],
      ['a brand', { brandIds: ['brand-lumen'] }, (p) => p.brandId === 'brand-lumen'],
      ['an inclusive price range', { minPrice: 2500, maxPrice: 9900 }, (p) => p.priceAmount >= 2500 && p.priceAmount <= 9900],
      ['a minimum price', { minPrice: 25000 }, (p) => p.priceAmount >= 25000],
      ['everything at once', { categoryIds: ['cat-chairs'], brandIds: ['brand-nordwood', 'brand-oakline'], maxPrice: 4999 },
        (p) => p.categoryId === 'cat-chairs' && p.brandId !== 'brand-lumen' && p.priceAmount <= 4999],
      ['a category with no products', { categoryIds: ['cat-rugs'] }, () => false],
    ])('filters by %s, with facets of the filtered result', async (_label, filter, keep) => {
      const expected = fixture.products.filter(keep);
      const page = await index.search(query({ filter: { ...noFilter, ...filter }, limit: 5 }));
      expect(page.totalCount).toBe(expected.length);
      expect(page.facets).toEqual(expectedFacets(expected));
      const { ids } = await allPages(query({ filter: { ...noFilter, ...filter }, limit: 5 }));
      expect(ids.sort()).toEqual(expected.map((p) => p.id).sort());
    });

    it('combines text with filters', async () => {
      const page = await index.search(
        query({ text: 'tabel', sort: 'PRICE_ASC', filter: { ...noFilter, brandIds: ['brand-lumen'] } }),
      );
      const expected = fixture.products
        .filter((p) => /Table/.test(p.name) && p.brandId === 'brand-lumen')
        .sort(EXPECTED_ORDER.PRICE_ASC);
      expect(page.hits.map((h) => h.id)).toEqual(expected.map((p) => p.id));
      expect(page.facets.brands).toEqual([{ id: 'brand-lumen', count: expected.length }]);
    });
  });

  it('finds a product by its new name once the catalog changes it and the index is told', async () => {
    const changed = await catalog.updateProduct(fixture.products[0]!.id, { name: 'Zeppelin Recliner' });
    if (!changed || 'kind' in changed) throw new Error('not updated');
    await index.indexProducts([changed]);
    const page = await index.search(query({ text: 'zeppelin', sort: 'RELEVANCE' }));
    expect(page.hits.map((h) => h.id)).toEqual([changed.id]);
  });

  describe('predictive search', () => {
    /** Suggestions for typed text, as the service asks for them. */
    async function suggest(text: string, limit = 20) {
      const built = buildPredictiveQuery({ query: text, first: limit }).query;
      if (!built) throw new Error(`nothing to suggest for ${text}`);
      const found = await index.suggest(built);
      return { ...found, products: names(found.productIds) };
    }

    it('suggests names with a word starting with every typed word, shortest first, then by name', async () => {
      const found = await suggest('oak ta');
      expect(found.products.slice(0, 3)).toEqual(['Modern Oak Table', 'Rustic Oak Table', 'Classic Oak Table']);
    });

    it('suggests names that resemble the text only after those starting with it', async () => {
      const found = await suggest('lamp', 20);
      const starting = fixture.products.filter((p) => /\bLamp/.test(p.name)).length;
      expect(found.products.slice(0, starting).every((name) => /\bLamp/.test(name))).toBe(true);
      const typo = await suggest('lampp', 20);
      expect(typo.products.length).toBe(starting);
      expect(typo.products.every((name) => /\bLamp/.test(name))).toBe(true);
    });

    it('matches whole words as prefixes too, whatever the letter case', async () => {
      const found = await suggest('NESTING');
      expect(found.products[0]).toBe('Nesting Tables');
    });

    it('forgives a typo from three letters on', async () => {
      const found = await suggest('tabel');
      expect(found.products.length).toBeGreaterThan(0);
      expect(found.products.every((name) => /Table/.test(name))).toBe(true);
      expect(found.categoryIds).toEqual(['cat-tables']);
    });

    it('matches one or two letters only as prefixes', async () => {
      const found = await suggest('ch');
      expect(found.products.length).toBeGreaterThan(0);
      expect(found.products.every((name) => /\bCh/.test(name))).toBe(true);
      expect(found.categoryIds).toEqual(['cat-chairs']);
      expect(found.brandIds).toEqual([]);
    });

    it('suggests brands and categories by their names', async () => {
      expect((await suggest('lum')).brandIds).toEqual(['brand-lumen']);
      expect((await suggest('oak')).brandIds).toEqual(['brand-oakline']);
      expect((await suggest('sof')).categoryIds).toEqual(['cat-sofas']);
    });

    it('answers at most the limit of each kind, the best ones', async () => {
      const all = await suggest('c', 20);
      const two = await suggest('c', 2);
      expect(two.productIds).toEqual(all.productIds.slice(0, 2));
      expect(two.categoryIds.length).toBeLessThanOrEqual(2);
    });

    it('suggests nothing for text no name starts with or resembles', async () => {
      expect(await suggest('qqxz')).toEqual({ productIds: [], categoryIds: [], brandIds: [], products: [] });
    });

    it('treats tsquery syntax as word breaks, not as syntax', async () => {
      expect(await suggest("oak' & !:* (ta)|")).toEqual(await suggest('oak ta'));
    });
  });

  describe('versions and archived products', () => {
    const newProduct = (id: string, name: string) => ({
      id,
      sku: id.toUpperCase(),
      name,
      description: 'Kept for version tests.',
      priceAmount: 4200,
      currency: 'USD',
      categoryId: 'cat-sofas',
      brandId: 'brand-vacant',
    });
    const written = <T extends object>(result: T | null) => {
      if (result === null || 'kind' in result) throw new Error(`not written: ${JSON.stringify(result)}`);
      return result as Exclude<T, { kind: string }>;
    };
    const hitIds = async (text: string) => (await index.search(query({ text, sort: 'RELEVANCE' }))).hits.map((h) => h.id);
    const suggestedIds = async (text: string) => (await index.suggest(buildPredictiveQuery({ query: text, first: 20 }).query!)).productIds;

    it('an archived product leaves search, facets and suggestions, and an older copy delivered again does not bring it back', async () => {
      const created = written(await catalog.createProduct(newProduct('quokka-1', 'Quokka Daybed')));
      await index.indexProducts([created]);
      expect(await hitIds('quokka')).toEqual([created.id]);
      expect(await suggestedIds('quok')).toEqual([created.id]);
      const brandFacet = async () => (await index.search(query({ filter: { ...noFilter, brandIds: ['brand-vacant'] } }))).totalCount;
      expect(await brandFacet()).toBe(1);

      const archived = written(await catalog.archiveProduct(created.id));
      await index.indexProducts([archived]);
      expect(await hitIds('quokka')).toEqual([]);
      expect(await suggestedIds('quok')).toEqual([]);
      expect(await brandFacet()).toBe(0);

      // A repeated delivery of the version before the archive, as an outbox may send.
      await index.indexProducts([created]);
      expect(await hitIds('quokka')).toEqual([]);
      expect(await suggestedIds('quok')).toEqual([]);
    });

    it('an older version delivered after a newer one changes nothing', async () => {
      const first = written(await catalog.createProduct(newProduct('zanzibar-1', 'Zanzibar Ottoman')));
      await index.indexProducts([first]);
      const renamed = written(await catalog.updateProduct(first.id, { name: 'Xylander Ottoman' }));
      expect(renamed.version).toBeGreaterThan(first.version);
      await index.indexProducts([renamed]);
      await index.indexProducts([first]);
      expect(await hitIds('xylander')).toEqual([first.id]);
      expect(await hitIds('zanzibar')).toEqual([]);
      expect(await suggestedIds('xyla')).toEqual([first.id]);
      expect(await suggestedIds('zanz')).toEqual([]);
    });

    it('a batch delivered twice, in any order, changes nothing', async () => {
      const a = written(await catalog.createProduct(newProduct('jacaranda-1', 'Jacaranda Footstool')));
      const b = written(await catalog.updateProduct(a.id, { priceAmount: 5100 }));
      await index.indexProducts([b, a]);
      await index.indexProducts([a, b]);
      const page = await index.search(query({ text: 'jacaranda', sort: 'RELEVANCE' }));
      expect(page.hits.map((h) => h.id)).toEqual([a.id]);
      expect(page.facets.priceBands.find((band) => band.count > 0)).toMatchObject(
        bands.find((band) => band.min <= 5100 && (band.max === null || 5100 < band.max))!,
      );
    });
  });
}
