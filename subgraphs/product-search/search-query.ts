/**
 * Search-query building, free of I/O: what a client sends becomes a validated
 * `SearchQuery` any index adapter can run, and positions become opaque cursors.
 */
import { badUserInput } from '../../platform/errors';
import { minorDigits } from '../../platform/money';
import { pageSize } from '../../platform/pagination';
import type { PriceBand, SearchFilter, SearchQuery, SearchSort, SearchText, SortPosition } from './store/port';

/** Longest search text accepted, in characters after normalisation. */
export const MAX_QUERY_LENGTH = 200;
/** Most category or brand ids one filter may name. */
export const MAX_FILTER_IDS = 100;
/** Hits per page when `first` is not given. */
export const DEFAULT_PAGE_SIZE = 20;
/**
 * Lowest word similarity (0–1) of the search text to a name that still counts as a
 * match. pg_trgm's default of 0.6 misses a single swapped letter in a short word
 * ("tabel" is 0.5 from "table"); 0.4 catches it without matching unrelated words.
 */
export const FUZZY_NAME_THRESHOLD = 0.4;

export const SEARCH_SORTS: readonly SearchSort[] = ['RELEVANCE', 'PRICE_ASC', 'PRICE_DESC', 'NAME_ASC', 'NEWEST'];

/** A value a search can be ordered by. `name` is the lower-cased name compared byte-wise. */
export type SortFieldName = 'score' | 'name' | 'price' | 'created';

export interface SortField {
  field: SortFieldName;
  direction: 'asc' | 'desc';
}

/**
 * What each sort orders by, before the product id that breaks every tie (ascending).
 * A cursor holds one value per field listed here.
 */
export const SORT_FIELDS: Readonly<Record<SearchSort, readonly SortField[]>> = {
  RELEVANCE: [{ field: 'score', direction: 'desc' }],
  PRICE_ASC: [{ field: 'price', direction: 'asc' }],
  PRICE_DESC: [{ field: 'price', direction: 'desc' }],
  NAME_ASC: [{ field: 'name', direction: 'asc' }],
  NEWEST: [{ field: 'created', direction: 'desc' }],
};

// Letters' case is kept (names are shown as typed); control and format characters are not.
const CONTROL = /[\p{Cc}\p{Cf}]/gu;

/** Trims, drops control characters and collapses whitespace; blank text is no query (null). */
export function normalizeSearchText(raw: string | null | undefined): string | null {
  if (raw == null) return null;
  const text = raw.replace(CONTROL, ' ').replace(/\s+/gu, ' ').trim();
  if (!text) return null;
  if ([...text].length > MAX_QUERY_LENGTH) {
    throw badUserInput(`query must be at most ${MAX_QUERY_LENGTH} characters.`, { field: 'query' });
  }
  return text;
}

// A quoted phrase or a bare token, either optionally negated by a leading dash.
const TOKEN = /(-?)"([^"]*)"?|(\S+)/gu;

/**
 * Splits normalised text the way web-search syntax reads it: quoted phrases and
 * bare words are looked for, `-word` and `-"a phrase"` are excluded, `or` joins.
 */
export function parseSearchText(query: string): SearchText {
  const words: string[] = [];
  const excluded: string[] = [];
  for (const [, negated, phrase, bare] of query.matchAll(TOKEN)) {
    if (phrase !== undefined) {
      const text = phrase.trim();
      if (text) (negated ? excluded : words).push(text);
    } else if (bare !== undefined && bare.toLowerCase() !== 'or') {
      const word = bare.replace(/"/gu, '').replace(/^-+/u, '');
      if (word) (bare.startsWith('-') ? excluded : words).push(word);
    }
  }
  return { query, words: words.length ? words.join(' ') : null, excluded };
}

/**
 * The sort a search runs with: the one asked for, else RELEVANCE when there is text
 * and NAME_ASC when there is none. RELEVANCE without text has nothing to rank by, so
 * it lists by name too.
 */
export function resolveSort(requested: SearchSort | null | undefined, hasText: boolean): SearchSort {
  const sort = requested ?? (hasText ? 'RELEVANCE' : 'NAME_ASC');
  return sort === 'RELEVANCE' && !hasText ? 'NAME_ASC' : sort;
}

/** A filter as a client sends it (GraphQL `ProductFilter`). */
export interface FilterInput {
  categoryIds?: readonly string[] | null;
  brandIds?: readonly string[] | null;
  minPrice?: number | null;
  maxPrice?: number | null;
}

function filterIds(ids: readonly string[] | null | undefined, field: string): string[] {
  if (!ids) return [];
  const unique = [...new Set(ids)];
  if (unique.length > MAX_FILTER_IDS) throw badUserInput(`${field} may name at most ${MAX_FILTER_IDS} ids.`, { field });
  return unique.sort();
}

function filterPrice(value: number | null | undefined, field: string): number | null {
  if (value == null) return null;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw badUserInput(`${field} must be a non-negative integer of minor units.`, { field });
  }
  return value;
}

/** Validates a filter: ids deduplicated (an empty list restricts nothing), prices whole and ordered. */
export function normalizeFilter(input: FilterInput | null | undefined): SearchFilter {
  const minPrice = filterPrice(input?.minPrice, 'filter.minPrice');
  const maxPrice = filterPrice(input?.maxPrice, 'filter.maxPrice');
  if (minPrice !== null && maxPrice !== null && minPrice > maxPrice) {
    throw badUserInput('filter.minPrice must not be above filter.maxPrice.', { field: 'filter.minPrice' });
  }
  return {
    categoryIds: filterIds(input?.categoryIds, 'filter.categoryIds'),
    brandIds: filterIds(input?.brandIds, 'filter.brandIds'),
    minPrice,
    maxPrice,
  };
}

/** Lower bounds of the price bands in major units (dollars, euros): 0–25, 25–50, …, 500 and up. */
export const PRICE_BAND_BOUNDS = [0, 25, 50, 100, 250, 500] as const;

/** The price bands of a currency in its minor units; the last band has no top. */
export function priceBands(currency: string): PriceBand[] {
  const scale = 10 ** minorDigits(currency);
  return PRICE_BAND_BOUNDS.map((bound, i) => {
    const next = PRICE_BAND_BOUNDS[i + 1];
    return { min: bound * scale, max: next === undefined ? null : next * scale };
  });
}

/** Index of the band an amount falls in (min inclusive, max exclusive); -1 below the first. */
export function priceBandIndex(amount: number, bands: readonly PriceBand[]): number {
  return bands.findIndex((band) => amount >= band.min && (band.max === null || amount < band.max));
}

// Cursor values must be exactly what the index can compare against, or the query would fail.
const VALUE_FORMAT: Record<SortFieldName, RegExp> = {
  score: /^-?\d{1,12}(\.\d{1,12})?$/,
  price: /^\d{1,10}$/,
  created: /^-?\d{1,19}$/,
  name: /^[^\0]{0,1000}$/su,
};
const MAX_INT = 2_147_483_647;
const MAX_CURSOR_LENGTH = 4096;
const CURSOR_VERSION = 1;

/** An opaque page cursor (base64url): the sort it belongs to and the position of a hit. */
export function encodeCursor(sort: SearchSort, position: SortPosition): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, s: sort, k: position.values, id: position.id })).toString('base64url');
}

const invalidCursor = () => badUserInput('after is not a cursor of this search.', { field: 'after' });

/** The position an `after` cursor names, or BAD_USER_INPUT when it is malformed or from another sort. */
export function decodeCursor(cursor: string, sort: SearchSort): SortPosition {
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (typeof decoded !== 'object' || decoded === null) throw invalidCursor();
  const { v, s, k, id } = decoded as Record<string, unknown>;
  const fields = SORT_FIELDS[sort];
  if (v !== CURSOR_VERSION || s !== sort || typeof id !== 'string' || !id || id.length > 200) throw invalidCursor();
  if (!Array.isArray(k) || k.length !== fields.length) throw invalidCursor();
  const values = k.map((value, i) => {
    const field = fields[i]!.field;
    if (typeof value !== 'string' || !VALUE_FORMAT[field].test(value)) throw invalidCursor();
    if (field === 'price' && Number(value) > MAX_INT) throw invalidCursor();
    return value;
  });
  return { values, id };
}

/** The arguments of `Query.searchProducts`. */
export interface SearchArgs {
  query?: string | null;
  filter?: FilterInput | null;
  sort?: SearchSort | null;
  first?: number | null;
  after?: string | null;
}

/** Validates a client's search and turns it into the query an index runs. */
export function buildSearchQuery(args: SearchArgs, currency: string): SearchQuery {
  const text = normalizeSearchText(args.query);
  const sort = resolveSort(args.sort, text !== null);
  return {
    text: text === null ? null : parseSearchText(text),
    filter: normalizeFilter(args.filter),
    sort,
    limit: pageSize(args.first, DEFAULT_PAGE_SIZE),
    after: args.after == null ? null : decodeCursor(args.after, sort),
    priceBands: priceBands(currency),
  };
}
