import { ShopError } from '../../../platform/errors';
import { normalizeEmail, parseAddressInput, parseRegisterInput } from '../customer-input';

function rejection(fn: () => unknown): { code?: unknown; field?: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ShopError);
    const shop = error as ShopError;
    return { code: shop.extensions.code, field: shop.extensions.field, message: shop.message };
  }
  throw new Error('expected the input to be refused');
}

const validSignUp = { email: 'ann@example.com', password: 'correct horse', name: 'Ann Lee' };
const validAddress = { line1: '1 Main St', city: 'Springfield', postalCode: '62701', country: 'US' };

describe('sign-up input', () => {
  it('trims and lower-cases the email and trims the name, keeping the password as typed', () => {
    expect(parseRegisterInput({ email: '  Ann@Example.COM ', password: ' spaced pw ', name: '  Ann Lee ' })).toEqual({
      email: 'ann@example.com',
      password: ' spaced pw ',
      name: 'Ann Lee',
    });
  });

  it.each(['ann', 'ann@', '@example.com', 'ann @example.com', 'ann@example', ''])('refuses the email %p', (email) => {
    expect(rejection(() => parseRegisterInput({ ...validSignUp, email }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'email',
    });
  });

  it('accepts passwords of 10 to 200 characters and refuses shorter or longer ones', () => {
    expect(parseRegisterInput({ ...validSignUp, password: 'x'.repeat(10) }).password).toHaveLength(10);
    expect(parseRegisterInput({ ...validSignUp, password: 'x'.repeat(200) }).password).toHaveLength(200);
    for (const password of ['x'.repeat(9), 'x'.repeat(201)]) {
      expect(rejection(() => parseRegisterInput({ ...validSignUp, password }))).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'password',
      });
    }
  });

  it('accepts names of 1 to 100 characters after trimming', () => {
    expect(parseRegisterInput({ ...validSignUp, name: ' A ' }).name).toBe('A');
    expect(parseRegisterInput({ ...validSignUp, name: 'n'.repeat(100) }).name).toHaveLength(100);
    for (const name of ['', '   ', 'n'.repeat(101)]) {
      expect(rejection(() => parseRegisterInput({ ...validSignUp, name }))).toMatchObject({ field: 'name' });
    }
  });

  it('normalizes an email for lookup the same way sign-up stores it', () => {
    expect(normalizeEmail(' Ann@Example.COM\t')).toBe(parseRegisterInput({ ...validSignUp, email: 'ann@example.com' }).email);
  });
});

describe('address input', () => {
  it('upper-cases the country, trims fields, and stores blank optional lines as null', () => {
    expect(parseAddressInput({ ...validAddress, line1: ' 1 Main St ', country: ' de ', line2: '   ', region: null })).toEqual({
      line1: '1 Main St',
      line2: null,
      city: 'Springfield',
      region: null,
      postalCode: '62701',
      country: 'DE',
    });
    expect(parseAddressInput({ ...validAddress, line2: 'Apt 4', region: 'IL' })).toMatchObject({ line2: 'Apt 4', region: 'IL' });
  });

  it.each(['XK', 'UK', 'EU', 'ZZ', 'USA', 'U', ''])('refuses the country %p', (country) => {
    expect(rejection(() => parseAddressInput({ ...validAddress, country }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'country',
    });
  });

  it.each([
    ['line1', { line1: ' ' }],
    ['city', { city: '' }],
    ['postalCode', { postalCode: '1'.repeat(21) }],
    ['line2', { line2: 'l'.repeat(201) }],
    ['region', { region: 'r'.repeat(101) }],
  ])('names %s when it is invalid', (field, change) => {
    expect(rejection(() => parseAddressInput({ ...validAddress, ...change }))).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });
});
