import { ShopError } from '../../../platform/errors';
import {
  buildSearchQuery,
  decodeCursor,
  DEFAULT_PAGE_SIZE,
  encodeCursor,
  MAX_FILTER_IDS,
  MAX_QUERY_LENGTH,
  normalizeFilter,
  normalizeSearchText,
  parseSearchText,
  priceBandIndex,
  priceBands,
  resolveSort,
  SEARCH_SORTS,
  SORT_FIELDS,
} from '../search-query';
import type { SearchSort } from '../store/port';

/** Runs `fn` and returns the code of the ShopError it throws. */
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ShopError) return error.code;
    throw error;
  }
  return undefined;
}

describe('search text', () => {
  it('trims, collapses whitespace and drops control characters', () => {
    expect(normalizeSearchText('  wooden\t\n  chair  ')).toBe('wooden chair');
    expect(normalizeSearchText('oak\u0000table\u200b')).toBe('oak table');
    expect(normalizeSearchText('Tabel')).toBe('Tabel');
  });

  it('treats absent or blank text as no query', () => {
    expect(normalizeSearchText(undefined)).toBeNull();
    expect(normalizeSearchText(null)).toBeNull();
    expect(normalizeSearchText('')).toBeNull();
    expect(normalizeSearchText(' \t\n ')).toBeNull();
  });

  it(`accepts up to ${MAX_QUERY_LENGTH} characters, counting letters not UTF-16 units`, () => {
    expect(normalizeSearchText('a'.repeat(MAX_QUERY_LENGTH))).toHaveLength(MAX_QUERY_LENGTH);
    expect(normalizeSearchText('é'.repeat(MAX_QUERY_LENGTH))).toHaveLength(MAX_QUERY_LENGTH);
    expect(normalizeSearchText('🪑'.repeat(MAX_QUERY_LENGTH))).toHaveLength(MAX_QUERY_LENGTH * 2);
    expect(codeOf(() => normalizeSearchText('a'.repeat(MAX_QUERY_LENGTH + 1)))).toBe('BAD_USER_INPUT');
    // Whitespace that collapses does not count against the limit.
    expect(normalizeSearchText(`a${' '.repeat(500)}b`)).toBe('a b');
  });

  it.each([
    ['wooden chair', { words: 'wooden chair', excluded: [] }],
    ['"wooden chair" lamp', { words: 'wooden chair lamp', excluded: [] }],
    ['chair -oak', { words: 'chair', excluded: ['oak'] }],
    ['tabel -"rustic oak"', { words: 'tabel', excluded: ['rustic oak'] }],
    ['chair or lamp OR sofa', { words: 'chair lamp sofa', excluded: [] }],
    ['-oak', { words: null, excluded: ['oak'] }],
    ['"unclosed phrase', { words: 'unclosed phrase', excluded: [] }],
    ['--double o"dd', { words: 'odd', excluded: ['double'] }],
    ['- "" or', { words: null, excluded: [] }],
  ])('reads web-search syntax in %j', (text, expected) => {
    expect(parseSearchText(text)).toEqual({ query: text, ...expected });
  });
});

describe('sort', () => {
  it('defaults to relevance with text and to name without', () => {
    expect(resolveSort(undefined, true)).toBe('RELEVANCE');
    expect(resolveSort(null, false)).toBe('NAME_ASC');
  });

  it('keeps any sort asked for, except relevance without text, which lists by name', () => {
    for (const sort of SEARCH_SORTS) {
      expect(resolveSort(sort, true)).toBe(sort);
      expect(resolveSort(sort, false)).toBe(sort === 'RELEVANCE' ? 'NAME_ASC' : sort);
    }
  });

  it('orders each sort by one field in the direction its name says', () => {
    expect(SORT_FIELDS).toEqual({
      RELEVANCE: [{ field: 'score', direction: 'desc' }],
      PRICE_ASC: [{ field: 'price', direction: 'asc' }],
      PRICE_DESC: [{ field: 'price', direction: 'desc' }],
      NAME_ASC: [{ field: 'name', direction: 'asc' }],
      NEWEST: [{ field: 'created', direction: 'desc' }],
    });
  });
});

describe('filter', () => {
  it('restricts nothing when absent or empty', () => {
    const none = { categoryIds: [], brandIds: [], minPrice: null, maxPrice: null };
    expect(normalizeFilter(undefined)).toEqual(none);
    expect(normalizeFilter(null)).toEqual(none);
    expect(normalizeFilter({ categoryIds: [], brandIds: null })).toEqual(none);
  });

  it('deduplicates ids and orders them, so equal filters are equal queries', () => {
    expect(normalizeFilter({ categoryIds: ['b', 'a', 'b'], brandIds: ['x', 'x'] })).toMatchObject({
      categoryIds: ['a', 'b'],
      brandIds: ['x'],
    });
  });

  it(`accepts up to ${MAX_FILTER_IDS} distinct ids per list`, () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `id-${i}`);
    expect(normalizeFilter({ categoryIds: ids(MAX_FILTER_IDS) }).categoryIds).toHaveLength(MAX_FILTER_IDS);
    expect(normalizeFilter({ brandIds: [...ids(MAX_FILTER_IDS), ...ids(MAX_FILTER_IDS)] }).brandIds).toHaveLength(MAX_FILTER_IDS);
    expect(codeOf(() => normalizeFilter({ categoryIds: ids(MAX_FILTER_IDS + 1) }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => normalizeFilter({ brandIds: ids(MAX_FILTER_IDS + 1) }))).toBe('BAD_USER_INPUT');
  });

  it('accepts prices from zero, and an equal minimum and maximum', () => {
    expect(normalizeFilter({ minPrice: 0, maxPrice: 0 })).toMatchObject({ minPrice: 0, maxPrice: 0 });
    expect(normalizeFilter({ minPrice: 100 })).toMatchObject({ minPrice: 100, maxPrice: null });
    expect(normalizeFilter({ maxPrice: 100 })).toMatchObject({ minPrice: null, maxPrice: 100 });
  });

  it.each([
    [{ minPrice: -1 }],
    [{ maxPrice: -1 }],
    [{ minPrice: 1.5 }],
    [{ minPrice: 500, maxPrice: 499 }],
  ])('refuses prices that are negative, fractional or out of order: %j', (filter) => {
    expect(codeOf(() => normalizeFilter(filter))).toBe('BAD_USER_INPUT');
  });
});

describe('price bands', () => {
  it('covers every price from zero in contiguous bands, the top one open', () => {
    const bands = priceBands('USD');
    expect(bands).toEqual([
      { min: 0, max: 2500 },
      { min: 2500, max: 5000 },
      { min: 5000, max: 10000 },
      { min: 10000, max: 25000 },
      { min: 25000, max: 50000 },
      { min: 50000, max: null },
    ]);
    for (let i = 1; i < bands.length; i += 1) expect(bands[i]!.min).toBe(bands[i - 1]!.max);
  });

  it('scales the bands to the minor units of the currency', () => {
    expect(priceBands('JPY')[1]).toEqual({ min: 25, max: 50 });
    expect(priceBands('KWD')[1]).toEqual({ min: 25000, max: 50000 });
  });

  it('puts an amount in the band whose min it reaches and whose max it stays below', () => {
    const bands = priceBands('USD');
    expect(priceBandIndex(0, bands)).toBe(0);
    expect(priceBandIndex(2499, bands)).toBe(0);
    expect(priceBandIndex(2500, bands)).toBe(1);
    expect(priceBandIndex(49_999, bands)).toBe(4);
    expect(priceBandIndex(50_000, bands)).toBe(5);
    expect(priceBandIndex(2_000_000_000, bands)).toBe(5);
    expect(priceBandIndex(-1, bands)).toBe(-1);
  });
});

describe('cursors', () => {
  const positions: Record<SearchSort, { values: string[]; id: string }> = {
    RELEVANCE: { values: ['2.153846'], id: 'p-1' },
    PRICE_ASC: { values: ['2500'], id: 'p-2' },
    PRICE_DESC: { values: ['0'], id: 'p-3' },
    NAME_ASC: { values: ['classic "oak" chair ✓'], id: 'p-4' },
    NEWEST: { values: ['1704067200123456'], id: '00000000-0000-4000-8000-000000000001' },
  };

  it.each(SEARCH_SORTS)('round-trips a %s position through an opaque base64url cursor', (sort) => {
    const cursor = encodeCursor(sort, positions[sort]);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain(positions[sort].id);
    expect(decodeCursor(cursor, sort)).toEqual(positions[sort]);
  });

  it('refuses a cursor of another sort', () => {
    const cursor = encodeCursor('PRICE_ASC', positions.PRICE_ASC);
    expect(codeOf(() => decodeCursor(cursor, 'PRICE_DESC'))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => decodeCursor(cursor, 'NAME_ASC'))).toBe('BAD_USER_INPUT');
  });

  const raw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it.each([
    ['empty', ''],
    ['not base64url', 'a+b/c='],
    ['not JSON', Buffer.from('{nope').toString('base64url')],
    ['JSON but not an object', raw(42)],
    ['null', raw(null)],
    ['another version', raw({ v: 2, s: 'PRICE_ASC', k: ['1'], id: 'p' })],
    ['no id', raw({ v: 1, s: 'PRICE_ASC', k: ['1'] })],
    ['an empty id', raw({ v: 1, s: 'PRICE_ASC', k: ['1'], id: '' })],
    ['a numeric id', raw({ v: 1, s: 'PRICE_ASC', k: ['1'], id: 7 })],
    ['too few values', raw({ v: 1, s: 'PRICE_ASC', k: [], id: 'p' })],
    ['too many values', raw({ v: 1, s: 'PRICE_ASC', k: ['1', '2'], id: 'p' })],
    ['a number instead of text', raw({ v: 1, s: 'PRICE_ASC', k: [1], id: 'p' })],
    ['a price that is not an integer', raw({ v: 1, s: 'PRICE_ASC', k: ['1.5'], id: 'p' })],
    ['a negative price', raw({ v: 1, s: 'PRICE_ASC', k: ['-1'], id: 'p' })],
    ['a price beyond a 32-bit integer', raw({ v: 1, s: 'PRICE_ASC', k: ['2147483648'], id: 'p' })],
    ['SQL in a value', raw({ v: 1, s: 'PRICE_ASC', k: ["1; drop table products"], id: 'p' })],
  ])('refuses a cursor that is %s', (_label, cursor) => {
    expect(codeOf(() => decodeCursor(cursor, 'PRICE_ASC'))).toBe('BAD_USER_INPUT');
  });

  it('refuses scores and times that the index could not compare', () => {
    expect(codeOf(() => decodeCursor(raw({ v: 1, s: 'RELEVANCE', k: ['NaN'], id: 'p' }), 'RELEVANCE'))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => decodeCursor(raw({ v: 1, s: 'RELEVANCE', k: ['1e5'], id: 'p' }), 'RELEVANCE'))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => decodeCursor(raw({ v: 1, s: 'NEWEST', k: ['2024-01-01'], id: 'p' }), 'NEWEST'))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => decodeCursor(raw({ v: 1, s: 'NAME_ASC', k: ['a\u0000b'], id: 'p' }), 'NAME_ASC'))).toBe('BAD_USER_INPUT');
  });

  it('refuses an oversized cursor before decoding it', () => {
    expect(codeOf(() => decodeCursor('A'.repeat(5000), 'PRICE_ASC'))).toBe('BAD_USER_INPUT');
  });
});

describe('building a search', () => {
  it('without arguments lists the first page by name, with every price band', () => {
    expect(buildSearchQuery({}, 'USD')).toEqual({
      text: null,
      filter: { categoryIds: [], brandIds: [], minPrice: null, maxPrice: null },
      sort: 'NAME_ASC',
      limit: DEFAULT_PAGE_SIZE,
      after: null,
      priceBands: priceBands('USD'),
    });
  });

  it('with text ranks by relevance and carries the parsed text', () => {
    const query = buildSearchQuery({ query: '  wooden   chair -oak ', first: 5 }, 'USD');
    expect(query).toMatchObject({
      text: { query: 'wooden chair -oak', words: 'wooden chair', excluded: ['oak'] },
      sort: 'RELEVANCE',
      limit: 5,
    });
  });

  it('decodes `after` against the resolved sort', () => {
    const after = encodeCursor('NAME_ASC', { values: ['oak chair'], id: 'p-9' });
    // No text: RELEVANCE resolves to NAME_ASC, so a NAME_ASC cursor fits.
    expect(buildSearchQuery({ sort: 'RELEVANCE', after }, 'USD').after).toEqual({ values: ['oak chair'], id: 'p-9' });
    expect(codeOf(() => buildSearchQuery({ query: 'oak', after }, 'USD'))).toBe('BAD_USER_INPUT');
  });

  it.each([
    [{ first: -1 }],
    [{ first: 101 }],
    [{ after: 'garbage!' }],
    [{ filter: { minPrice: -5 } }],
    [{ query: 'x'.repeat(MAX_QUERY_LENGTH + 1) }],
  ])('refuses bad input: %j', (args) => {
    expect(codeOf(() => buildSearchQuery(args, 'USD'))).toBe('BAD_USER_INPUT');
  });

  it('accepts page sizes from 0 to 100', () => {
    expect(buildSearchQuery({ first: 0 }, 'USD').limit).toBe(0);
    expect(buildSearchQuery({ first: 100 }, 'USD').limit).toBe(100);
    expect(buildSearchQuery({ first: null }, 'USD').limit).toBe(DEFAULT_PAGE_SIZE);
  });
});
