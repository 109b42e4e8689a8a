import { z } from 'zod';
import { parseAddress, parseInput } from '../address';
import { COUNTRY_CODES, isCountryCode } from '../countries';
import { ShopError } from '../errors';

function refusal(fn: () => unknown): { code?: unknown; field?: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ShopError);
    const shop = error as ShopError;
    return { code: shop.extensions.code, field: shop.extensions.field, message: shop.message };
  }
  throw new Error('expected a refusal');
}

const address = { line1: '1 Main St', line2: null, city: 'Springfield', region: null, postalCode: '62701', country: 'US' };

describe('parseInput', () => {
  const schema = z.object({ quantity: z.number().int('quantity must be a whole number.'), note: z.string().max(3, 'note must be at most 3 characters.') });

  it('returns the parsed value', () => {
    expect(parseInput(schema, { quantity: 2, note: 'ok' })).toEqual({ quantity: 2, note: 'ok' });
  });

  it('names the first wrong field in extensions.field and the message, under a prefix when given', () => {
    expect(refusal(() => parseInput(schema, { quantity: 1.5, note: 'ok' }))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'quantity',
      message: 'quantity must be a whole number.',
    });
    expect(refusal(() => parseInput(schema, { quantity: 1, note: 'long' }, 'input.line'))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.line.note',
      message: 'input.line.note must be at most 3 characters.',
    });
  });
});

describe('parseAddress', () => {
  it('trims, keeps blanks as null and upper-cases the country', () => {
    expect(parseAddress({ ...address, line1: ' 1 Main St ', line2: '  ', region: ' IL ', country: ' de ' })).toEqual({
      ...address,
      region: 'IL',
      country: 'DE',
    });
  });

  it.each([
    ['a reserved code', 'XK'],
    ['a user-assigned code', 'ZZ'],
    ['a three-letter code', 'USA'],
    ['a name', 'Holland'],
    ['nothing', ''],
  ])('refuses %s as the country, naming the field under the prefix', (_what, country) => {
    expect(refusal(() => parseAddress({ ...address, country }, 'input.shippingAddress'))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.shippingAddress.country',
    });
  });

  it('refuses a field that is not text', () => {
    expect(refusal(() => parseAddress({ ...address, city: 42 } as never, 'a'))).toMatchObject({ field: 'a.city', message: 'a.city must be text.' });
  });
});

describe('country codes', () => {
  it('lists the 249 assigned ISO 3166-1 alpha-2 codes, each once, in order', () => {
    expect(COUNTRY_CODES).toHaveLength(249);
    expect(new Set(COUNTRY_CODES).size).toBe(249);
    expect([...COUNTRY_CODES].sort()).toEqual([...COUNTRY_CODES]);
    for (const code of COUNTRY_CODES) expect(code).toMatch(/^[A-Z]{2}$/);
  });

  it('every code names a region the platform knows by a name of its own', () => {
    const names = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });
    const unnamed = COUNTRY_CODES.filter((code) => names.of(code) === code);
    expect(unnamed).toEqual([]);
  });

  it('knows countries and refuses codes that are not assigned', () => {
    for (const code of ['US', 'DE', 'JP', 'SS', 'CW', 'AQ']) expect(isCountryCode(code)).toBe(true);
    for (const code of ['XK', 'UK', 'EU', 'AN', 'us']) expect(isCountryCode(code)).toBe(false);
  });
});
