import type { estypes } from '@elastic/elasticsearch';
import { buildPredictiveQuery, highlightRanges, predictiveWords } from '../predictive-query';
import { decodeCursor, encodeCursor, parseSearchText, priceBands, SEARCH_SORTS, SORT_FIELDS } from '../search-query';
import {
  buildingAlias,
  bulkError,
  bulkFailures,
  bulkOperations,
  definitionDigest,
  documentId,
  FACET_TERMS_LIMIT,
  facetAggregations,
  indexDefinition,
  nameWrite,
  newIndexName,
  parseWebSearch,
  positionOf,
  productWrite,
  readSearchPage,
  readSuggestions,
  recordId,
  scoreText,
  searchAfter,
  searchQuery,
  searchRequest,
  searchSort,
  suggestionSearches,
  WORD_MATCH_BOOST,
  type FacetAggregates,
  type SuggestionResponse,
} from '../store/elasticsearch-query';
import type { ProductRecord, SearchFilter, SearchQuery, SearchSort } from '../store/port';

const noFilter: SearchFilter = { categoryIds: [], brandIds: [], minPrice: null, maxPrice: null };
const bands = priceBands('USD');

function query(overrides: Omit<Partial<SearchQuery>, 'text'> & { text?: string } = {}): SearchQuery {
  const { text, ...rest } = overrides;
  return {
    text: text === undefined ? null : parseSearchText(text),
    filter: noFilter,
    sort: text === undefined ? 'NAME_ASC' : 'RELEVANCE',
    limit: 20,
    after: null,
    priceBands: bands,
    ...rest,
  };
}

const product: ProductRecord = {
  id: '00000000-0000-4000-8000-000000000001',
  sku: 'OAK-TBL-1',
  name: 'Café Oak Table',
  description: 'A flat top on four legs.',
  priceAmount: 24999,
  currency: 'USD',
  categoryId: 'cat-tables',
  brandId: 'brand-oakline',
  createdAt: new Date('2024-01-02T03:04:05.678Z'),
  updatedAt: new Date('2024-02-03T04:05:06.789Z'),
  version: 7,
  archivedAt: null,
};

/** Every query object anywhere inside `value` that has `key`, depth first. */
function findAll(value: unknown, key: string): Record<string, unknown>[] {
  if (typeof value !== 'object' || value === null) return [];
  const found = key in value ? [value as Record<string, unknown>] : [];
  return [...found, ...Object.values(value).flatMap((v) => findAll(v, key))];
}

describe('the index definition', () => {
  const { settings, mappings } = indexDefinition();
  const properties = mappings.properties as Record<string, estypes.MappingProperty & Record<string, unknown>>;

  it('is one shard, so facet counts and relevance statistics are exact', () => {
    expect(settings.number_of_shards).toBe(1);
  });

  it('analyses name and description as English: possessives, lower case, stop words, stemming', () => {
    const analysis = settings.analysis!;
    const english = analysis.analyzer!.shop_english as estypes.AnalysisCustomAnalyzer;
    expect(english.tokenizer).toBe('standard');
    expect(english.filter).toEqual(['shop_english_possessive', 'lowercase', 'shop_english_stop', 'shop_english_stemmer']);
    expect(analysis.filter!.shop_english_possessive).toEqual({ type: 'stemmer', language: 'possessive_english' });
    expect(analysis.filter!.shop_english_stemmer).toEqual({ type: 'stemmer', language: 'english' });
    expect(analysis.filter!.shop_english_stop).toEqual({ type: 'stop', stopwords: '_english_' });
    expect(properties.name).toMatchObject({ type: 'text', analyzer: 'shop_english' });
    expect(properties.description).toMatchObject({ type: 'text', analyzer: 'shop_english' });
  });

  it('indexes every prefix of every name word, and matches typed words whole', () => {
    const prefix = (properties.name!.fields as Record<string, Record<string, unknown>>).prefix;
    expect(prefix).toEqual({ type: 'text', analyzer: 'name_prefixes', search_analyzer: 'name_words' });
    const analysis = settings.analysis!;
    expect(analysis.analyzer!.name_prefixes).toMatchObject({ tokenizer: 'name_words', filter: ['lowercase', 'asciifolding', 'name_prefixes'] });
    expect(analysis.analyzer!.name_words).toMatchObject({ tokenizer: 'name_words', filter: ['lowercase', 'asciifolding'] });
    expect(analysis.filter!.name_prefixes).toMatchObject({ type: 'edge_ngram', min_gram: 1, preserve_original: true });
  });

  it('splits names into the same words, at the same UTF-16 offsets, as predictive search highlights them', () => {
    const tokenizer = settings.analysis!.tokenizer!.name_words as estypes.AnalysisPatternTokenizer;
    // Java's and JavaScript's Unicode property classes agree on letters and digits.
    const separator = new RegExp(tokenizer.pattern!, 'gu');
    for (const name of ["O'Reilly Café-Table", '  Kid’s 2-seat sofa!', 'Stuhl «Größe» 3', '🪑 Chair 🪑', 'Ｆｕｌｌ　ｗｉｄｔｈ', '東京 Lamp']) {
      const words = name.split(separator).filter(Boolean);
      expect(words.map((w) => w.toLowerCase())).toEqual(predictiveWords(name));
      // Every highlighted range starts where an index word starts.
      const starts = new Set<number>();
      let offset = 0;
      for (const word of words) {
        offset = name.indexOf(word, offset);
        starts.add(offset);
        offset += word.length;
      }
      for (const range of highlightRanges(name, predictiveWords(name))) expect(starts.has(range.start)).toBe(true);
    }
  });

  it('keeps ids, category, brand, SKU and the name key as keywords, price as whole minor units, dates and the version', () => {
    for (const field of ['kind', 'id', 'categoryId', 'brandId', 'currency', 'nameSort']) expect(properties[field]).toEqual({ type: 'keyword' });
    expect(properties.sku).toEqual({ type: 'keyword', normalizer: 'sku' });
    expect(properties.priceAmount).toEqual({ type: 'long' });
    expect(properties.createdAt).toEqual({ type: 'date' });
    expect(properties.updatedAt).toEqual({ type: 'date' });
    expect(properties.version).toEqual({ type: 'long' });
    expect(properties.archived).toEqual({ type: 'boolean' });
    expect(properties.nameLength).toEqual({ type: 'integer' });
  });

  it('refuses fields it does not know, and records a digest of itself', () => {
    expect(mappings.dynamic).toBe('strict');
    expect(definitionDigest()).toMatch(/^[0-9a-f]{16}$/);
    expect(mappings._meta).toEqual({ definition: definitionDigest() });
    expect(indexDefinition()).toEqual(indexDefinition());
  });
});

describe('index names and document ids', () => {
  it('names an index after its alias and the moment it was built', () => {
    expect(newIndexName('products', new Date('2025-03-14T09:30:15.123Z'), 'A1B2C3')).toBe('products-20250314093015123-a1b2c3');
    expect(buildingAlias('products')).toBe('products-building');
  });

  it('keeps kinds apart and reads the catalog id back, colons and all', () => {
    expect(documentId('product', 'p-1')).toBe('product:p-1');
    expect(documentId('category', 'p-1')).not.toBe(documentId('product', 'p-1'));
    for (const id of ['p-1', 'a:b:c', '']) expect(recordId(documentId('brand', id))).toBe(id);
  });
});

describe('documents', () => {
  it('stores a product with its sort keys, its version and whether it is archived', () => {
    expect(productWrite(product)).toEqual({
      version: 7,
      document: {
        kind: 'product',
        id: product.id,
        name: 'Café Oak Table',
        nameSort: 'café oak table',
        nameLength: 14,
        description: 'A flat top on four legs.',
        sku: 'OAK-TBL-1',
        priceAmount: 24999,
        currency: 'USD',
        categoryId: 'cat-tables',
        brandId: 'brand-oakline',
        createdAt: '2024-01-02T03:04:05.678Z',
        updatedAt: '2024-02-03T04:05:06.789Z',
        archived: false,
        version: 7,
      },
    });
    expect(productWrite({ ...product, archivedAt: new Date() }).document.archived).toBe(true);
  });

  it('counts name length in characters, as PostgreSQL does, not in UTF-16 units', () => {
    expect(productWrite({ ...product, name: '🪑 Chair' }).document.nameLength).toBe(7);
  });

  it('stores categories and brands with their names only, and no version', () => {
    expect(nameWrite('category', { id: 'cat-lamps', slug: 'lamps', name: 'Lamps', description: 'Light.' })).toEqual({
      version: null,
      document: { kind: 'category', id: 'cat-lamps', name: 'Lamps', nameSort: 'lamps', nameLength: 5 },
    });
  });
});

describe('bulk writes', () => {
  const writes = [productWrite(product), nameWrite('brand', { id: 'brand-lumen', slug: 'lumen', name: 'Lumen' })];

  it('writes products with their catalog version as an external version, names without, through every target', () => {
    const operations = bulkOperations(writes, ['products', 'products-building']);
    expect(operations).toHaveLength(8);
    expect(operations[0]).toEqual({ index: { _index: 'products', _id: `product:${product.id}`, version: 7, version_type: 'external' } });
    expect(operations[1]).toBe(writes[0]!.document);
    expect(operations[2]).toEqual({ index: { _index: 'products', _id: 'brand:brand-lumen' } });
    expect(operations[4]).toEqual({ index: { _index: 'products-building', _id: `product:${product.id}`, version: 7, version_type: 'external' } });
  });

  const item = (status: number, index: string, type?: string): Partial<Record<estypes.BulkOperationType, estypes.BulkResponseItem>> => ({
    index: { _index: index, _id: 'product:p', status, ...(type ? { error: { type, reason: `${type} happened` } } : {}) },
  });
  const response = (...items: ReturnType<typeof item>[]): estypes.BulkResponse => ({ errors: true, took: 1, items });

  it('takes a version conflict for success: the index already holds that product as new or newer', () => {
    expect(bulkFailures(response(item(201, 'products'), item(409, 'products', 'version_conflict_engine_exception')), null)).toEqual([]);
  });

  it('ignores a missing building alias (the rebuild swapped or stopped), but not a missing main alias', () => {
    const missing = (index: string) => item(404, index, 'index_not_found_exception');
    expect(bulkFailures(response(missing('products-building')), 'products-building')).toEqual([]);
    expect(bulkFailures(response(missing('products')), 'products-building')).toHaveLength(1);
    expect(bulkFailures(response(missing('products-building')), null)).toHaveLength(1);
  });

  it('reports every other refusal, with the first reason', () => {
    const failures = bulkFailures(
      response(item(429, 'products', 'es_rejected_execution_exception'), item(400, 'products', 'mapper_parsing_exception')),
      null,
    );
    expect(failures.map((f) => f.status)).toEqual([429, 400]);
    expect(bulkError(failures, 10).message).toBe(
      'Elasticsearch refused 2 of 10 writes; first product:p: 429 es_rejected_execution_exception: es_rejected_execution_exception happened',
    );
  });
});

describe('web-search syntax', () => {
  const word = (text: string) => ({ text, phrase: false });
  const phrase = (text: string) => ({ text, phrase: true });

  it('requires every word', () => {
    expect(parseWebSearch('wooden chair')).toEqual({ groups: [[word('wooden')], [word('chair')]], excluded: [] });
  });

  it('joins words with or, in any letter case, and ignores a dangling or', () => {
    expect(parseWebSearch('oak chair OR lamp')).toEqual({ groups: [[word('oak')], [word('chair'), word('lamp')]], excluded: [] });
    expect(parseWebSearch('or chair or')).toEqual({ groups: [[word('chair')]], excluded: [] });
  });

  it('reads quoted phrases and exclusions, a missing closing quote included', () => {
    expect(parseWebSearch('"wooden chair" -oak -"rustic table" "velvet')).toEqual({
      groups: [[phrase('wooden chair')], [phrase('velvet')]],
      excluded: [word('oak'), phrase('rustic table')],
    });
  });

  it('drops terms without a letter or digit, and keeps punctuation inside words for the analyzer', () => {
    expect(parseWebSearch("o'reilly & (lamp) --- \"\"")).toEqual({ groups: [[word("o'reilly")], [word('(lamp)')]], excluded: [] });
    expect(parseWebSearch('---')).toEqual({ groups: [], excluded: [] });
  });

  it('never lets an excluded word into an or group', () => {
    expect(parseWebSearch('chair or -oak')).toEqual({ groups: [[word('chair')]], excluded: [word('oak')] });
  });
});

describe('the search query', () => {
  const bool = (q: estypes.QueryDslQueryContainer) => q.bool!;

  it('lists products on sale only, without text', () => {
    expect(searchQuery(query())).toEqual({ bool: { filter: [{ term: { kind: 'product' } }, { term: { archived: false } }] } });
  });

  it('filters by categories, brands and an inclusive price range, scoring nothing', () => {
    const filter = { categoryIds: ['cat-a', 'cat-b'], brandIds: ['brand-x'], minPrice: 2500, maxPrice: 9900 };
    expect(bool(searchQuery(query({ filter }))).filter).toEqual([
      { term: { kind: 'product' } },
      { term: { archived: false } },
      { terms: { categoryId: ['cat-a', 'cat-b'] } },
      { terms: { brandId: ['brand-x'] } },
      { range: { priceAmount: { gte: 2500, lte: 9900 } } },
    ]);
    expect(bool(searchQuery(query({ filter: { ...noFilter, minPrice: 100 } }))).filter).toContainEqual({ range: { priceAmount: { gte: 100 } } });
    expect(bool(searchQuery(query({ filter: { ...noFilter, maxPrice: 0 } }))).filter).toContainEqual({ range: { priceAmount: { lte: 0 } } });
  });

  it('ranks products holding every word, or named by their SKU, above those that only resemble the text', () => {
    const q = bool(searchQuery(query({ text: 'wooden chair' })));
    expect(q.must).toEqual([{ match_all: {} }]);
    expect(q.minimum_should_match).toBe(1);
    const [everyWord, sku, resembles] = q.should as estypes.QueryDslQueryContainer[];
    expect(everyWord!.constant_score!.boost).toBe(WORD_MATCH_BOOST);
    const required = everyWord!.constant_score!.filter.bool!.filter as estypes.QueryDslQueryContainer[];
    expect(required.slice(0, 2)).toEqual(
      ['wooden', 'chair'].map((w) => ({
        multi_match: { query: w, type: 'cross_fields', operator: 'and', fields: ['name^3', 'description'], zero_terms_query: 'all' },
      })),
    );
    // Stop words alone match nothing.
    expect(required[2]).toEqual({ multi_match: { query: 'wooden chair', fields: ['name^3', 'description'] } });
    expect(sku).toEqual({ constant_score: { filter: { terms: { sku: ['wooden', 'chair'] } }, boost: WORD_MATCH_BOOST } });
    expect(resembles).toEqual({
      multi_match: { query: 'wooden chair', fields: ['name^3', 'description'], fuzziness: 'AUTO', prefix_length: 1, minimum_should_match: '50%' },
    });
  });

  it('matches any word of an or group, phrases word by word in order', () => {
    const q = bool(searchQuery(query({ text: '"wooden chair" or lamp' })));
    const required = (q.should as estypes.QueryDslQueryContainer[])[0]!.constant_score!.filter.bool!.filter as estypes.QueryDslQueryContainer[];
    expect(required[0]).toEqual({
      bool: {
        should: [
          { multi_match: { query: 'wooden chair', type: 'phrase', fields: ['name^3', 'description'], zero_terms_query: 'all' } },
          { multi_match: { query: 'lamp', type: 'cross_fields', operator: 'and', fields: ['name^3', 'description'], zero_terms_query: 'all' } },
        ],
        minimum_should_match: 1,
      },
    });
    // A phrase is no SKU.
    expect(findAll(q.should, 'terms')).toEqual([{ terms: { sku: ['lamp'] } }]);
  });

  it('keeps excluded words and phrases out of every kind of match', () => {
    const q = bool(searchQuery(query({ text: '"tabel" -"rustic oak" -steel' })));
    expect(q.must_not).toEqual([
      { multi_match: { query: 'rustic oak', type: 'phrase', fields: ['name^3', 'description'], zero_terms_query: 'none' } },
      { multi_match: { query: 'steel', type: 'cross_fields', operator: 'and', fields: ['name^3', 'description'], zero_terms_query: 'none' } },
    ]);
    expect(findAll(q.should, 'fuzziness')[0]).toMatchObject({ query: 'tabel' });
  });

  it('lists every product but the excluded for exclusions alone, and matches nothing for no words at all', () => {
    const q = bool(searchQuery(query({ text: '-oak' })));
    expect(q.should).toEqual([{ constant_score: { filter: { match_all: {} }, boost: WORD_MATCH_BOOST } }]);
    expect(q.must_not).toHaveLength(1);
    expect(searchQuery(query({ text: '---' }))).toEqual({ match_none: {} });
  });
});

describe('sorts and cursors', () => {
  it('sorts as SORT_FIELDS says, the product id breaking ties', () => {
    expect(searchSort('RELEVANCE')).toEqual([{ _score: { order: 'desc' } }, { id: { order: 'asc' } }]);
    expect(searchSort('PRICE_ASC')).toEqual([{ priceAmount: { order: 'asc' } }, { id: { order: 'asc' } }]);
    expect(searchSort('PRICE_DESC')).toEqual([{ priceAmount: { order: 'desc' } }, { id: { order: 'asc' } }]);
    expect(searchSort('NAME_ASC')).toEqual([{ nameSort: { order: 'asc' } }, { id: { order: 'asc' } }]);
    expect(searchSort('NEWEST')).toEqual([{ createdAt: { order: 'desc' } }, { id: { order: 'asc' } }]);
    for (const sort of SEARCH_SORTS) expect(searchSort(sort)).toHaveLength(SORT_FIELDS[sort].length + 1);
  });

  // Sort values as Elasticsearch sends them: a 32-bit score printed shortest, a long, a keyword, epoch ms.
  const hitSorts: Record<SearchSort, estypes.FieldValue[]> = {
    RELEVANCE: [10001.123, 'p-7'],
    PRICE_ASC: [2500, 'p-2'],
    PRICE_DESC: [2_147_483_647, 'p-3'],
    NAME_ASC: ['café oak table', 'p-4'],
    NEWEST: [Date.parse('2024-01-02T03:04:05.678Z'), 'p-5'],
  };

  it.each(SEARCH_SORTS)('carries a %s hit’s sort values through an opaque cursor back to search_after unchanged', (sort) => {
    const position = positionOf(sort, hitSorts[sort]);
    const decoded = decodeCursor(encodeCursor(sort, position), sort);
    expect(decoded).toEqual(position);
    expect(searchAfter(sort, decoded)).toEqual(hitSorts[sort]);
  });

  it('writes a score as the shortest decimal that reads back as the same 32-bit float Elasticsearch compares', () => {
    for (const score of [1, 1.5, 10001.1234, 10000.999, 1.0000001, 123456.78, 3.4e7, 16777215, 10000 + Math.PI]) {
      const float = Math.fround(score);
      // As Elasticsearch prints it (shortest), and as a double holding the float exactly.
      for (const sent of [Number(scoreText(float)), float]) {
        const position = positionOf('RELEVANCE', [sent, 'p']);
        expect(position.values[0]).toMatch(/^\d{1,12}(\.\d{1,12})?$/);
        const [after] = searchAfter('RELEVANCE', decodeCursor(encodeCursor('RELEVANCE', position), 'RELEVANCE'));
        expect(Math.fround(after as number)).toBe(float);
      }
    }
    expect(scoreText(Math.fround(10001.1234))).toBe('10001.123');
    expect(scoreText(1)).toBe('1');
  });

  it('refuses sort values of the wrong shape', () => {
    expect(() => positionOf('PRICE_ASC', [2500])).toThrow(/sort values/);
    expect(() => positionOf('PRICE_ASC', ['cheap', 'p-1'])).toThrow(/not a number/);
  });
});

describe('the search request', () => {
  it('asks for one hit more than the page, the exact total and facets, and no documents', () => {
    const request = searchRequest(query({ limit: 7 }), 'products');
    expect(request).toMatchObject({ index: 'products', size: 8, track_total_hits: true, _source: false });
    expect(request).not.toHaveProperty('search_after');
    expect(request.aggs).toEqual(facetAggregations(query()));
  });

  it('starts after the position of the previous page', () => {
    const request = searchRequest(query({ sort: 'PRICE_DESC', after: { values: ['9900'], id: 'p-9' } }), 'products');
    expect(request.search_after).toEqual([9900, 'p-9']);
  });

  it('sends the pages of one text to the same shard copies', () => {
    const preference = (text: string) => searchRequest(query({ text }), 'products').preference;
    expect(preference('oak table')).toBe(preference('oak table'));
    expect(preference('oak table')).not.toBe(preference('oak chair'));
    expect(preference('_local')).toMatch(/^search-[0-9a-f]{12}$/);
  });

  it('counts categories and brands most first then by id, and each price band, open at the top', () => {
    const aggs = facetAggregations(query());
    expect(aggs.categories).toEqual({ terms: { field: 'categoryId', size: FACET_TERMS_LIMIT, order: [{ _count: 'desc' }, { _key: 'asc' }] } });
    expect(aggs.brands!.terms!.field).toBe('brandId');
    expect(aggs.priceBands).toEqual({
      range: {
        field: 'priceAmount',
        ranges: [
          { key: '0', from: 0, to: 2500 },
          { key: '1', from: 2500, to: 5000 },
          { key: '2', from: 5000, to: 10000 },
          { key: '3', from: 10000, to: 25000 },
          { key: '4', from: 25000, to: 50000 },
          { key: '5', from: 50000 },
        ],
      },
    });
  });
});

describe('reading a search response', () => {
  const response = (hits: estypes.FieldValue[][], total: number | estypes.SearchTotalHits): estypes.SearchResponse<unknown, FacetAggregates> => ({
    took: 1,
    timed_out: false,
    _shards: { total: 1, successful: 1, failed: 0 },
    hits: { total, hits: hits.map((sort) => ({ _index: 'products-1', _id: `product:${String(sort.at(-1))}`, sort })) },
    aggregations: {
      categories: { doc_count_error_upper_bound: 0, sum_other_doc_count: 0, buckets: [{ key: 'cat-b', doc_count: 3 }, { key: 'cat-a', doc_count: 1 }] },
      brands: { doc_count_error_upper_bound: 0, sum_other_doc_count: 0, buckets: [{ key: 'brand-x', doc_count: 4 }] },
      priceBands: { buckets: [{ key: '0', from: 0, to: 2500, doc_count: 1 }, { key: '5', from: 50000, doc_count: 3 }] },
    },
  });

  it('returns the page, says whether more follow, and counts the whole result', () => {
    const page = readSearchPage(query({ sort: 'PRICE_ASC', limit: 2 }), response([[100, 'p-1'], [200, 'p-2'], [300, 'p-3']], { value: 4, relation: 'eq' }));
    expect(page.hits).toEqual([
      { id: 'p-1', position: { values: ['100'], id: 'p-1' } },
      { id: 'p-2', position: { values: ['200'], id: 'p-2' } },
    ]);
    expect(page.hasMore).toBe(true);
    expect(page.totalCount).toBe(4);
    expect(page.facets.categories).toEqual([{ id: 'cat-b', count: 3 }, { id: 'cat-a', count: 1 }]);
    expect(page.facets.brands).toEqual([{ id: 'brand-x', count: 4 }]);
    expect(page.facets.priceBands.map((b) => b.count)).toEqual([1, 0, 0, 0, 0, 3]);
    expect(page.facets.priceBands[5]).toEqual({ min: 50000, max: null, count: 3 });
  });

  it('says no more follow on the last page, and answers a page of none with the count', () => {
    expect(readSearchPage(query({ sort: 'PRICE_ASC', limit: 5 }), response([[100, 'p-1']], 1)).hasMore).toBe(false);
    const empty = readSearchPage(query({ sort: 'PRICE_ASC', limit: 0 }), response([[100, 'p-1']], 4));
    expect(empty).toMatchObject({ hits: [], hasMore: true, totalCount: 4 });
  });
});

describe('predictive search', () => {
  const predictive = (text: string, first = 5) => buildPredictiveQuery({ query: text, first }).query!;

  it('looks for names starting with every typed word, of each kind, shortest first', () => {
    const searches = suggestionSearches(predictive('oak ta'));
    const starting = searches.filter((s) => s.tier === 'starting');
    expect(starting.map((s) => s.kind)).toEqual(['product', 'category', 'brand']);
    expect(starting[0]!.body).toEqual({
      size: 5,
      _source: false,
      track_total_hits: false,
      query: {
        bool: {
          filter: [
            { term: { kind: 'product' } },
            { term: { archived: false } },
            { match: { 'name.prefix': { query: 'oak' } } },
            { match: { 'name.prefix': { query: 'ta' } } },
          ],
        },
      },
      sort: [{ nameLength: { order: 'asc' } }, { nameSort: { order: 'asc' } }, { id: { order: 'asc' } }],
    });
    expect(starting[1]!.body.query!.bool!.filter).toContainEqual({ term: { kind: 'category' } });
    expect(starting[1]!.body.query!.bool!.filter).not.toContainEqual({ term: { archived: false } });
  });

  it('then looks for names resembling each typed word, most similar first, never those starting with them', () => {
    const resembling = suggestionSearches(predictive('tabel')).filter((s) => s.tier === 'resembling');
    expect(resembling).toHaveLength(3);
    expect(resembling[0]!.body.query).toEqual({
      bool: {
        filter: [{ term: { kind: 'product' } }, { term: { archived: false } }],
        must: [{ match: { 'name.prefix': { query: 'tabel', fuzziness: 'AUTO', prefix_length: 1 } } }],
        must_not: [{ bool: { filter: [{ match: { 'name.prefix': { query: 'tabel' } } }] } }],
      },
    });
    expect(resembling[0]!.body.sort).toEqual([{ _score: { order: 'desc' } }, { nameLength: { order: 'asc' } }, { nameSort: { order: 'asc' } }, { id: { order: 'asc' } }]);
  });

  it('matches one or two letters only as prefixes', () => {
    expect(suggestionSearches(predictive('ch')).map((s) => s.tier)).toEqual(['starting', 'starting', 'starting']);
  });

  const hits = (...ids: string[]): SuggestionResponse => ({
    took: 1,
    timed_out: false,
    _shards: { total: 1, successful: 1, failed: 0 },
    hits: { hits: ids.map((id) => ({ _index: 'products-1', _id: id })) },
    status: 200,
  });

  it('answers names starting with the text first, then resembling ones, up to the limit of each kind', () => {
    const q = predictive('lamp', 3);
    const searches = suggestionSearches(q);
    const found = readSuggestions(q, searches, [
      hits('product:p-1', 'product:p-2'),
      hits('product:p-9', 'product:p-8'),
      hits('category:cat-lamps'),
      hits(),
      hits(),
      hits('brand:brand-lumen'),
    ]);
    expect(found).toEqual({ productIds: ['p-1', 'p-2', 'p-9'], categoryIds: ['cat-lamps'], brandIds: ['brand-lumen'] });
  });

  it('fails when one of the searches failed', () => {
    const q = predictive('ch');
    const failed: SuggestionResponse = { error: { type: 'search_phase_execution_exception', reason: 'all shards failed' }, status: 503 };
    expect(() => readSuggestions(q, suggestionSearches(q), [hits(), failed, hits()])).toThrow(
      'predictive search of category names failed: search_phase_execution_exception: all shards failed',
    );
  });
});
