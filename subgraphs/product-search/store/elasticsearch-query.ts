/**
 * Elasticsearch request building, free of I/O: the index definition (analysis and
 * mapping), the documents written, and the bodies of search, predictive search and
 * bulk writes, with what is read back from their responses. The adapter
 * (`elasticsearch.ts`) only sends what these functions build.
 *
 * One index holds three kinds of document, told apart by `kind`: products (written with
 * the catalog's version, kept when archived so that an older copy can never come back)
 * and the categories and brands predictive search suggests. Every product query filters
 * on kind and leaves archived products out.
 */
import { createHash } from 'node:crypto';
import type { estypes } from '@elastic/elasticsearch';
import { SORT_FIELDS, type SortFieldName } from '../search-query';
import type {
  BrandRecord,
  CategoryRecord,
  FacetCount,
  PredictiveQuery,
  ProductRecord,
  SearchPage,
  SearchQuery,
  SearchSort,
  SortPosition,
  Suggestions,
} from './port';

/** What a document of the index is. */
export type DocumentKind = 'product' | 'category' | 'brand';

/** A document as stored. Categories and brands carry only the name fields. */
export interface IndexedDocument {
  kind: DocumentKind;
  /** The record's id in the catalog. */
  id: string;
  name: string;
  /** The NAME_ASC key: the name lower-cased, compared byte-wise as a keyword. */
  nameSort: string;
  /** Characters in the name: shorter names are better suggestions for the same text. */
  nameLength: number;
  description?: string;
  sku?: string;
  /** Minor units of `currency`. */
  priceAmount?: number;
  currency?: string;
  categoryId?: string;
  brandId?: string;
  /** ISO 8601. */
  createdAt?: string;
  updatedAt?: string;
  /** Archived products stay in the index, so their version keeps older copies out, but never match. */
  archived?: boolean;
  /** The catalog's version of the product, also the document's external version. */
  version?: number;
}

/** A product document and the version it is written with; categories and brands have none. */
export interface DocumentWrite {
  document: IndexedDocument;
  version: number | null;
}

/**
 * How much a product holding every word of the text (or its SKU) outranks one that only
 * resembles it: far above any relevance a realistic text reaches, and low enough that the
 * relevance added to it keeps a precision of about 0.001 in a 32-bit score.
 */
export const WORD_MATCH_BOOST = 10_000;
/** Distinct categories or brands a facet counts at most; far above any shop's. */
export const FACET_TERMS_LIMIT = 10_000;
/** Longest word prefix stored for predictive search; a longer word still matches when typed whole. */
export const MAX_PREFIX_LENGTH = 24;

/** Fields full-text search reads, name words weighing more (as in the PostgreSQL ranking). */
const TEXT_FIELDS = ['name^3', 'description'];

/**
 * The analysis and mapping of the index, also written to the mapping's `_meta` as a
 * digest, so that a process can tell that the index was built by another definition.
 */
export function indexDefinition(): { settings: estypes.IndicesIndexSettings; mappings: estypes.MappingTypeMapping } {
  const settings: estypes.IndicesIndexSettings = {
    // One shard: a catalog fits easily, and term facets and relevance statistics are
    // then exact rather than per-shard estimates.
    number_of_shards: 1,
    analysis: {
      // Predictive search splits names into words exactly as `predictiveWords` and
      // `highlightRanges` do: runs of letters and digits.
      tokenizer: { name_words: { type: 'pattern', pattern: '[^\\p{L}\\p{N}]+' } },
      filter: {
        shop_english_possessive: { type: 'stemmer', language: 'possessive_english' },
        shop_english_stop: { type: 'stop', stopwords: '_english_' },
        shop_english_stemmer: { type: 'stemmer', language: 'english' },
        name_prefixes: { type: 'edge_ngram', min_gram: 1, max_gram: MAX_PREFIX_LENGTH, preserve_original: true },
      },
      analyzer: {
        // Elasticsearch's `english` analyzer, spelled out so that it is ours to change.
        shop_english: {
          type: 'custom',
          tokenizer: 'standard',
          filter: ['shop_english_possessive', 'lowercase', 'shop_english_stop', 'shop_english_stemmer'],
        },
        name_words: { type: 'custom', tokenizer: 'name_words', filter: ['lowercase', 'asciifolding'] },
        name_prefixes: { type: 'custom', tokenizer: 'name_words', filter: ['lowercase', 'asciifolding', 'name_prefixes'] },
      },
      normalizer: { sku: { type: 'custom', filter: ['lowercase'] } },
    },
  };
  const properties: Record<keyof IndexedDocument, estypes.MappingProperty> = {
    kind: { type: 'keyword' },
    id: { type: 'keyword' },
    name: {
      type: 'text',
      analyzer: 'shop_english',
      // Every prefix of every word, for predictive search; what is typed is matched whole.
      fields: { prefix: { type: 'text', analyzer: 'name_prefixes', search_analyzer: 'name_words' } },
    },
    nameSort: { type: 'keyword' },
    nameLength: { type: 'integer' },
    description: { type: 'text', analyzer: 'shop_english' },
    sku: { type: 'keyword', normalizer: 'sku' },
    priceAmount: { type: 'long' },
    currency: { type: 'keyword' },
    categoryId: { type: 'keyword' },
    brandId: { type: 'keyword' },
    createdAt: { type: 'date' },
    updatedAt: { type: 'date' },
    archived: { type: 'boolean' },
    version: { type: 'long' },
  };
  const mappings: estypes.MappingTypeMapping = { dynamic: 'strict', properties };
  const digest = createHash('sha256').update(JSON.stringify({ settings, mappings })).digest('hex').slice(0, 16);
  return { settings, mappings: { ...mappings, _meta: { definition: digest } } };
}

/** The digest `indexDefinition` writes to the mapping's `_meta`. */
export function definitionDigest(): string {
  return String(indexDefinition().mappings._meta!.definition);
}

/** The alias an index being built is written through while it is built, beside `alias`. */
export function buildingAlias(alias: string): string {
  return `${alias}-building`;
}

/** A new index's name: `<alias>-<UTC timestamp to the ms>-<suffix>`, lower case as Elasticsearch wants. */
export function newIndexName(alias: string, at: Date, suffix: string): string {
  const stamp = at.toISOString().replace(/[^0-9]/g, '');
  return `${alias}-${stamp}-${suffix.toLowerCase()}`;
}

/** The document id of a record: its kind and its catalog id, so that kinds never collide. */
export function documentId(kind: DocumentKind, id: string): string {
  return `${kind}:${id}`;
}

/** The catalog id of a document id made by `documentId`. */
export function recordId(documentIdText: string): string {
  return documentIdText.slice(documentIdText.indexOf(':') + 1);
}

function nameFields(name: string): Pick<IndexedDocument, 'name' | 'nameSort' | 'nameLength'> {
  // PostgreSQL's length() counts characters, not UTF-16 units; so does this.
  return { name, nameSort: name.toLowerCase(), nameLength: [...name].length };
}

/** A product as the index stores it, with the version it is written at. */
export function productWrite(product: ProductRecord): DocumentWrite {
  return {
    version: product.version,
    document: {
      kind: 'product',
      id: product.id,
      ...nameFields(product.name),
      description: product.description,
      sku: product.sku,
      priceAmount: product.priceAmount,
      currency: product.currency,
      categoryId: product.categoryId,
      brandId: product.brandId,
      createdAt: product.createdAt.toISOString(),
      updatedAt: product.updatedAt.toISOString(),
      archived: product.archivedAt !== null,
      version: product.version,
    },
  };
}

/** A category or brand as the index stores it, for predictive search. */
export function nameWrite(kind: 'category' | 'brand', record: CategoryRecord | BrandRecord): DocumentWrite {
  return { version: null, document: { kind, id: record.id, ...nameFields(record.name) } };
}

/**
 * Bulk operations writing each document through each target (aliases). A product is
 * written with its catalog version as an external version: Elasticsearch keeps it only
 * when it is higher than the stored one, so a repeated or late copy changes nothing.
 */
export function bulkOperations(
  writes: readonly DocumentWrite[],
  targets: readonly string[],
): (estypes.BulkOperationContainer | IndexedDocument)[] {
  const operations: (estypes.BulkOperationContainer | IndexedDocument)[] = [];
  for (const target of targets) {
    for (const { document, version } of writes) {
      const index: estypes.BulkIndexOperation = { _index: target, _id: documentId(document.kind, document.id) };
      if (version !== null) Object.assign(index, { version, version_type: 'external' });
      operations.push({ index }, document);
    }
  }
  return operations;
}

/** A write Elasticsearch refused, as told in a bulk response. */
export interface BulkFailure {
  id: string;
  status: number;
  type: string;
  reason: string;
}

/**
 * The writes of a bulk response that failed. A version conflict (409) is not a failure:
 * the index already holds that product at a version as new or newer. Nor is a write
 * through `optionalTarget` that found no such alias (404): that index was swapped in
 * (and the write reached it through the main alias in the same request) or dropped.
 */
export function bulkFailures(response: estypes.BulkResponse, optionalTarget: string | null): BulkFailure[] {
  const failures: BulkFailure[] = [];
  for (const item of response.items) {
    const result = item.index ?? item.create ?? item.update ?? item.delete;
    if (!result?.error) continue;
    if (result.status === 409) continue;
    if (result.status === 404 && optionalTarget !== null && result._index === optionalTarget) continue;
    failures.push({
      id: result._id ?? '',
      status: result.status,
      type: result.error.type,
      reason: result.error.reason ?? '',
    });
  }
  return failures;
}

/** The error a refused bulk write is thrown as: how many, and the first reason. */
export function bulkError(failures: readonly BulkFailure[], total: number): Error {
  const first = failures[0]!;
  return new Error(
    `Elasticsearch refused ${failures.length} of ${total} writes; first ${first.id}: ${first.status} ${first.type}: ${first.reason}`,
  );
}

// ---------------------------------------------------------------------------------------
// Search

/** One word or phrase of search text, as web-search syntax reads it. */
export interface SearchTerm {
  text: string;
  phrase: boolean;
}

/**
 * Search text parsed as `websearch_to_tsquery` reads it: every group must match (a group
 * is terms joined by `or`, any of which will do), no excluded term may.
 */
export interface ParsedSearchText {
  groups: SearchTerm[][];
  excluded: SearchTerm[];
}

// A quoted phrase or a bare token, either optionally negated by a leading dash.
const TOKEN = /(-?)"([^"]*)"?|(\S+)/gu;
// A term that holds no letter or digit has no word to look for (`&`, `---`).
const HAS_WORD = /[\p{L}\p{N}]/u;

/**
 * Parses web-search syntax: `"a phrase"`, `-excluded`, `-"excluded phrase"`, `a or b`;
 * every other term is required. A dangling `or` joins nothing.
 */
export function parseWebSearch(query: string): ParsedSearchText {
  const groups: SearchTerm[][] = [];
  const excluded: SearchTerm[] = [];
  let joinNext = false;
  for (const [, negated, phrase, bare] of query.matchAll(TOKEN)) {
    let term: SearchTerm;
    let isExcluded: boolean;
    if (phrase !== undefined) {
      term = { text: phrase.trim(), phrase: true };
      isExcluded = negated === '-';
    } else {
      if (bare!.toLowerCase() === 'or') {
        joinNext = groups.length > 0;
        continue;
      }
      term = { text: bare!.replace(/"/gu, '').replace(/^-+/u, ''), phrase: false };
      isExcluded = bare!.startsWith('-');
    }
    if (!HAS_WORD.test(term.text)) continue;
    if (isExcluded) excluded.push(term);
    else if (joinNext) groups.at(-1)!.push(term);
    else groups.push([term]);
    joinNext = false;
  }
  return { groups, excluded };
}

/**
 * A term matched over name and description. A word must be in either field (stemmed);
 * a phrase in one field, its words in order. A term the analyzer reduces to nothing (a
 * stop word) matches everything when required and excludes nothing when excluded.
 */
function termQuery(term: SearchTerm, required: boolean): estypes.QueryDslQueryContainer {
  const zero_terms_query = required ? 'all' : 'none';
  return term.phrase
    ? { multi_match: { query: term.text, type: 'phrase', fields: TEXT_FIELDS, zero_terms_query } }
    : { multi_match: { query: term.text, type: 'cross_fields', operator: 'and', fields: TEXT_FIELDS, zero_terms_query } };
}

/**
 * What the full-text match of PostgreSQL admits: every group in name or description
 * (stemmed), at least one real word among them (text of stop words only matches nothing,
 * as `websearch_to_tsquery` finds nothing in it). Text of exclusions only admits every
 * product, the exclusions then leaving some out. Null when nothing can match.
 */
function everyWordQuery(parsed: ParsedSearchText): estypes.QueryDslQueryContainer | null {
  if (parsed.groups.length === 0) return parsed.excluded.length > 0 ? { match_all: {} } : null;
  const groups = parsed.groups.map((group) =>
    group.length === 1 ? termQuery(group[0]!, true) : { bool: { should: group.map((t) => termQuery(t, true)), minimum_should_match: 1 } },
  );
  const someWord: estypes.QueryDslQueryContainer = {
    multi_match: { query: parsed.groups.flat().map((t) => t.text).join(' '), fields: TEXT_FIELDS },
  };
  return { bool: { filter: [...groups, someWord] } };
}

/** Products on sale that the filter admits. */
function productFilter(query: SearchQuery): estypes.QueryDslQueryContainer[] {
  const { categoryIds, brandIds, minPrice, maxPrice } = query.filter;
  const filter: estypes.QueryDslQueryContainer[] = [{ term: { kind: 'product' } }, { term: { archived: false } }];
  if (categoryIds.length > 0) filter.push({ terms: { categoryId: [...categoryIds] } });
  if (brandIds.length > 0) filter.push({ terms: { brandId: [...brandIds] } });
  if (minPrice !== null || maxPrice !== null) {
    const range: estypes.QueryDslNumberRangeQuery = {};
    if (minPrice !== null) range.gte = minPrice;
    if (maxPrice !== null) range.lte = maxPrice;
    filter.push({ range: { priceAmount: range } });
  }
  return filter;
}

/**
 * The query of a search, ranked as the PostgreSQL adapter ranks: a product holding every
 * word (or whose SKU is a word of the text) outranks any that only resembles the text;
 * then relevance, typo-tolerant, name words weighing more. Every score is at least 1, so
 * that a cursor's score is written without an exponent.
 */
export function searchQuery(query: SearchQuery): estypes.QueryDslQueryContainer {
  const filter = productFilter(query);
  const { text } = query;
  if (text === null) return { bool: { filter } };
  const parsed = parseWebSearch(text.query);
  const should: estypes.QueryDslQueryContainer[] = [];
  const everyWord = everyWordQuery(parsed);
  if (everyWord) should.push({ constant_score: { filter: everyWord, boost: WORD_MATCH_BOOST } });
  const skus = [...new Set(parsed.groups.flat().filter((t) => !t.phrase).map((t) => t.text))];
  if (skus.length > 0) should.push({ constant_score: { filter: { terms: { sku: skus } }, boost: WORD_MATCH_BOOST } });
  if (text.words !== null) {
    should.push({
      multi_match: {
        query: text.words,
        fields: TEXT_FIELDS,
        fuzziness: 'AUTO',
        // A typo in the first letter is not forgiven: it would match far too many words.
        prefix_length: 1,
        // Half the words resembling some in one field, as a name resembling the text does.
        minimum_should_match: '50%',
      },
    });
  }
  if (should.length === 0) return { match_none: {} };
  return {
    bool: {
      filter,
      must: [{ match_all: {} }],
      should,
      minimum_should_match: 1,
      must_not: parsed.excluded.map((t) => termQuery(t, false)),
    },
  };
}

/** Each sort field as the index field it sorts by. */
const SORT_FIELD_OF: Record<SortFieldName, string> = {
  score: '_score',
  price: 'priceAmount',
  name: 'nameSort',
  created: 'createdAt',
};

/** The sort of a search: the fields of `SORT_FIELDS`, then the product id ascending. */
export function searchSort(sort: SearchSort): estypes.SortCombinations[] {
  return [
    ...SORT_FIELDS[sort].map(({ field, direction }) => ({ [SORT_FIELD_OF[field]]: { order: direction } }) as estypes.SortCombinations),
    { id: { order: 'asc' } },
  ];
}

/**
 * A score as cursor text: the shortest decimal that reads back as the same 32-bit float,
 * which is what Elasticsearch compares `search_after` with. Scores are at least 1 (see
 * `searchQuery`), so the text never has an exponent.
 */
export function scoreText(score: number): string {
  const float = Math.fround(score);
  // Nine significant digits always suffice for a 32-bit float; fewer usually do.
  for (let digits = 1; digits < 9; digits++) {
    const shorter = Number(float.toPrecision(digits));
    if (Math.fround(shorter) === float) return String(shorter);
  }
  return String(Number(float.toPrecision(9)));
}

/** The position of a hit from its sort values, as the port's cursor carries it. */
export function positionOf(sort: SearchSort, values: readonly estypes.FieldValue[]): SortPosition {
  const fields = SORT_FIELDS[sort];
  if (values.length !== fields.length + 1) throw new Error(`a hit has ${values.length} sort values, expected ${fields.length + 1}`);
  return {
    values: fields.map(({ field }, i) => {
      const value = values[i];
      if (field === 'name') return String(value);
      if (typeof value !== 'number') throw new Error(`sort value ${String(value)} of ${field} is not a number`);
      return field === 'score' ? scoreText(value) : String(value);
    }),
    id: String(values[fields.length]),
  };
}

/** The `search_after` of a position made by `positionOf`. */
export function searchAfter(sort: SearchSort, position: SortPosition): estypes.FieldValue[] {
  return [...SORT_FIELDS[sort].map(({ field }, i) => (field === 'name' ? position.values[i]! : Number(position.values[i]))), position.id];
}

/** Facet aggregations: terms counted over the whole result, and the query's price bands. */
export function facetAggregations(query: SearchQuery): Record<string, estypes.AggregationsAggregationContainer> {
  const terms = (field: string): estypes.AggregationsAggregationContainer => ({
    terms: { field, size: FACET_TERMS_LIMIT, order: [{ _count: 'desc' }, { _key: 'asc' }] },
  });
  return {
    categories: terms('categoryId'),
    brands: terms('brandId'),
    // A range includes `from` and excludes `to`, as a price band does; keyed by position.
    priceBands: {
      range: {
        field: 'priceAmount',
        ranges: query.priceBands.map((band, i) => ({ key: String(i), from: band.min, ...(band.max === null ? {} : { to: band.max }) })),
      },
    },
  };
}

/**
 * The whole search in one request: one page more than asked (to know whether more
 * follow), the exact total, and the facets of every matching product.
 */
export function searchRequest(query: SearchQuery, alias: string): estypes.SearchRequest {
  return {
    index: alias,
    query: searchQuery(query),
    sort: searchSort(query.sort),
    size: query.limit + 1,
    ...(query.after ? { search_after: searchAfter(query.sort, query.after) } : {}),
    track_total_hits: true,
    _source: false,
    aggs: facetAggregations(query),
    // The same text is answered by the same shard copies, so that relevance (whose
    // statistics differ slightly between copies) does not change from page to page.
    preference: `search-${createHash('sha256').update(query.text?.query ?? '').digest('hex').slice(0, 12)}`,
  };
}

/** The aggregations of a search response, as `facetAggregations` asks for them. */
export interface FacetAggregates {
  categories: estypes.AggregationsStringTermsAggregate;
  brands: estypes.AggregationsStringTermsAggregate;
  priceBands: estypes.AggregationsRangeAggregate;
}

function bucketsOf<T>(buckets: T[] | Record<string, T> | undefined): T[] {
  if (!buckets) return [];
  return Array.isArray(buckets) ? buckets : Object.values(buckets);
}

/** A search page from the response to `searchRequest`. */
export function readSearchPage(query: SearchQuery, response: estypes.SearchResponse<unknown, FacetAggregates>): SearchPage {
  const hits = response.hits.hits;
  const total = response.hits.total;
  const terms = (aggregate: estypes.AggregationsStringTermsAggregate | undefined): FacetCount[] =>
    bucketsOf(aggregate?.buckets).map((bucket) => ({ id: String(bucket.key), count: bucket.doc_count }));
  const bandCounts = new Map(bucketsOf(response.aggregations?.priceBands.buckets).map((bucket) => [bucket.key, bucket.doc_count]));
  return {
    hits: hits.slice(0, query.limit).map((hit) => {
      const position = positionOf(query.sort, hit.sort ?? []);
      return { id: position.id, position };
    }),
    hasMore: hits.length > query.limit,
    totalCount: typeof total === 'number' ? total : (total?.value ?? 0),
    facets: {
      categories: terms(response.aggregations?.categories),
      brands: terms(response.aggregations?.brands),
      priceBands: query.priceBands.map((band, i) => ({ ...band, count: bandCounts.get(String(i)) ?? 0 })),
    },
  };
}

// ---------------------------------------------------------------------------------------
// Predictive search

/** Which of the two passes of predictive search a request is. */
export type SuggestionTier = 'starting' | 'resembling';

/** One search of predictive search: a kind of record and a tier. */
export interface SuggestionSearch {
  kind: DocumentKind;
  tier: SuggestionTier;
  body: estypes.MsearchMultisearchBody;
}

const SUGGESTED_KINDS: readonly DocumentKind[] = ['product', 'category', 'brand'];

/** Records of a kind that may be suggested: archived products never are. */
function suggestable(kind: DocumentKind): estypes.QueryDslQueryContainer[] {
  return kind === 'product' ? [{ term: { kind } }, { term: { archived: false } }] : [{ term: { kind } }];
}

/** Names with a word starting with the typed word, letter case and accents ignored. */
function startsWord(word: string): estypes.QueryDslQueryContainer {
  return { match: { 'name.prefix': { query: word } } };
}

/**
 * Names with a word starting with something the typed word is a typo of: as many typos
 * as `allowedTypos` forgives (Elasticsearch's AUTO: none below 3 letters, one up to 5,
 * then two), the first letter kept.
 */
function resemblesWord(word: string): estypes.QueryDslQueryContainer {
  return { match: { 'name.prefix': { query: word, fuzziness: 'AUTO', prefix_length: 1 } } };
}

// Ties in both tiers: shorter names first (the text covers more of them), then by name, then id.
const BY_NAME: estypes.SortCombinations[] = [{ nameLength: { order: 'asc' } }, { nameSort: { order: 'asc' } }, { id: { order: 'asc' } }];

/**
 * The searches of predictive search, as the PostgreSQL adapter ranks suggestions: for each
 * kind, names with a word starting with every typed word, shortest first; then (when the
 * text is long enough for typos) names with a word resembling each typed word and not
 * starting with them all, most similar first. All are sent at once in one request.
 */
export function suggestionSearches(query: PredictiveQuery): SuggestionSearch[] {
  const starting = query.words.map(startsWord);
  return SUGGESTED_KINDS.flatMap((kind): SuggestionSearch[] => {
    const searches: SuggestionSearch[] = [
      {
        kind,
        tier: 'starting',
        body: {
          size: query.limit,
          _source: false,
          track_total_hits: false,
          query: { bool: { filter: [...suggestable(kind), ...starting] } },
          sort: BY_NAME,
        },
      },
    ];
    if (query.fuzzy !== null) {
      searches.push({
        kind,
        tier: 'resembling',
        body: {
          size: query.limit,
          _source: false,
          track_total_hits: false,
          query: { bool: { filter: suggestable(kind), must: query.words.map(resemblesWord), must_not: [{ bool: { filter: starting } }] } },
          sort: [{ _score: { order: 'desc' } }, ...BY_NAME],
        },
      });
    }
    return searches;
  });
}

/** A response of a multi-search: hits, or the error of that one search. */
export type SuggestionResponse = estypes.MsearchResponseItem<unknown>;

/** Suggestions from the responses to `suggestionSearches`, in the same order: starting names first, up to the limit. */
export function readSuggestions(
  query: PredictiveQuery,
  searches: readonly SuggestionSearch[],
  responses: readonly SuggestionResponse[],
): Suggestions {
  const found: Record<DocumentKind, string[]> = { product: [], category: [], brand: [] };
  searches.forEach((search, i) => {
    const response = responses[i];
    if (!response || 'error' in response) {
      const error = response && 'error' in response ? response.error : undefined;
      throw new Error(`predictive search of ${search.kind} names failed: ${error?.type ?? 'no response'}: ${error?.reason ?? ''}`);
    }
    for (const hit of response.hits.hits) {
      const id = recordId(hit._id!);
      if (!found[search.kind].includes(id)) found[search.kind].push(id);
    }
  });
  return {
    productIds: found.product.slice(0, query.limit),
    categoryIds: found.category.slice(0, query.limit),
    brandIds: found.brand.slice(0, query.limit),
  };
}
