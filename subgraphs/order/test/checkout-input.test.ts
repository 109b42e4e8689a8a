import { ShopError } from '../../../platform/errors';
import {
  checkoutHash,
  parseCartLineInput,
  parsePlaceOrderInput,
  parseShippingAddress,
  type PlaceOrderInput,
} from '../checkout-input';

function refusal(run: () => unknown): { code?: string; field?: unknown } {
  try {
    run();
  } catch (error) {
    if (error instanceof ShopError) return { code: error.code, field: error.extensions.field };
    throw error;
  }
  return {};
}

const address = { line1: 'Keizersgracht 1', line2: null, city: 'Amsterdam', region: null, postalCode: '1015 CJ', country: 'NL' };
const checkoutInput = (overrides: Partial<PlaceOrderInput> = {}): PlaceOrderInput => ({
  idempotencyKey: 'key-1',
  shippingAddress: address,
  paymentToken: 'tok_visa',
  ...overrides,
});

describe('cart line input', () => {
  it('accepts 1 to 99 units to add and 0 to 99 to set', () => {
    expect(parseCartLineInput({ productId: ' p1 ', quantity: 1 }, 1)).toEqual({ productId: 'p1', quantity: 1 });
    expect(parseCartLineInput({ productId: 'p1', quantity: 99 }, 1)).toEqual({ productId: 'p1', quantity: 99 });
    expect(parseCartLineInput({ productId: 'p1', quantity: 0 }, 0)).toEqual({ productId: 'p1', quantity: 0 });
  });

  it.each([
    ['0 units to add', 0, 1],
    ['100 units', 100, 1],
    ['100 units to set', 100, 0],
    ['negative units to set', -1, 0],
    ['half a unit', 1.5, 1],
    ['NaN units', Number.NaN, 0],
  ] as const)('refuses %s with BAD_USER_INPUT on input.quantity', (_what, quantity, min) => {
    expect(refusal(() => parseCartLineInput({ productId: 'p1', quantity }, min))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.quantity',
    });
  });

  it('refuses a blank or overlong product id', () => {
    expect(refusal(() => parseCartLineInput({ productId: '  ', quantity: 1 }, 1)).field).toBe('input.productId');
    expect(refusal(() => parseCartLineInput({ productId: 'x'.repeat(101), quantity: 1 }, 1)).field).toBe('input.productId');
  });
});

describe('shipping address', () => {
  it('trims fields, keeps blanks as null and upper-cases the country', () => {
    expect(
      parseShippingAddress(
        { line1: ' Main St 1 ', line2: '  ', city: ' Springfield', region: ' IL ', postalCode: ' 62701 ', country: ' us ' },
        'a',
      ),
    ).toEqual({ line1: 'Main St 1', line2: null, city: 'Springfield', region: 'IL', postalCode: '62701', country: 'US' });
  });

  it.each([
    ['an empty line1', { line1: ' ' }, 'a.line1'],
    ['a line1 of 201 characters', { line1: 'x'.repeat(201) }, 'a.line1'],
    ['a line2 of 201 characters', { line2: 'x'.repeat(201) }, 'a.line2'],
    ['an empty city', { city: '' }, 'a.city'],
    ['a city of 101 characters', { city: 'x'.repeat(101) }, 'a.city'],
    ['a region of 101 characters', { region: 'x'.repeat(101) }, 'a.region'],
    ['a postal code of 21 characters', { postalCode: '1'.repeat(21) }, 'a.postalCode'],
    ['a country name', { country: 'Holland' }, 'a.country'],
    ['a three-letter country', { country: 'NLD' }, 'a.country'],
    ['a country with digits', { country: 'N1' }, 'a.country'],
    // The same rule as the customer's address book: two letters are not enough.
    ['a code no country is assigned', { country: 'ZZ' }, 'a.country'],
    ['a reserved code', { country: 'UK' }, 'a.country'],
  ])('refuses %s', (_what, overrides, field) => {
    expect(refusal(() => parseShippingAddress({ ...address, ...overrides }, 'a'))).toEqual({ code: 'BAD_USER_INPUT', field });
  });
});

describe('checkout input', () => {
  it('accepts keys of 1 and 200 characters', () => {
    expect(parsePlaceOrderInput(checkoutInput({ idempotencyKey: 'k' })).idempotencyKey).toBe('k');
    expect(parsePlaceOrderInput(checkoutInput({ idempotencyKey: 'k'.repeat(200) })).idempotencyKey).toHaveLength(200);
  });

  it.each([
    ['an empty key', { idempotencyKey: '' }, 'input.idempotencyKey'],
    ['a key of 201 characters', { idempotencyKey: 'k'.repeat(201) }, 'input.idempotencyKey'],
    ['an empty payment token', { paymentToken: ' ' }, 'input.paymentToken'],
    ['an overlong payment token', { paymentToken: 't'.repeat(501) }, 'input.paymentToken'],
    ['an address without city', { shippingAddress: { ...address, city: '' } }, 'input.shippingAddress.city'],
  ])('refuses %s', (_what, overrides, field) => {
    expect(refusal(() => parsePlaceOrderInput(checkoutInput(overrides)))).toEqual({ code: 'BAD_USER_INPUT', field });
  });
});

describe('checkout fingerprint', () => {
  const checkout = parsePlaceOrderInput(checkoutInput());
  const cart = [
    { productId: 'b', quantity: 2 },
    { productId: 'a', quantity: 1 },
  ];

  it('is a sha256 that does not depend on line order or on address spelling the parser normalizes', () => {
    const hash = checkoutHash(checkout, cart);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(checkoutHash(checkout, [...cart].reverse())).toBe(hash);
    const spelled = parsePlaceOrderInput(checkoutInput({ shippingAddress: { ...address, country: ' nl', city: 'Amsterdam ' } }));
    expect(checkoutHash(spelled, cart)).toBe(hash);
  });

  it.each([
    ['the key', () => checkoutHash(parsePlaceOrderInput(checkoutInput({ idempotencyKey: 'key-2' })), cart)],
    ['the payment token', () => checkoutHash(parsePlaceOrderInput(checkoutInput({ paymentToken: 'tok_other' })), cart)],
    ['the address', () => checkoutHash(parsePlaceOrderInput(checkoutInput({ shippingAddress: { ...address, line1: 'Dam 1' } })), cart)],
    ['a quantity', () => checkoutHash(checkout, [cart[0]!, { productId: 'a', quantity: 2 }])],
    ['a product', () => checkoutHash(checkout, [cart[0]!, { productId: 'c', quantity: 1 }])],
    ['a missing line', () => checkoutHash(checkout, [cart[0]!])],
  ])('changes with %s', (_what, other) => {
    expect(other()).not.toBe(checkoutHash(checkout, cart));
  });

  it('does not confuse field boundaries', () => {
    const a = parsePlaceOrderInput(checkoutInput({ shippingAddress: { ...address, line1: 'A', line2: 'B C' } }));
    const b = parsePlaceOrderInput(checkoutInput({ shippingAddress: { ...address, line1: 'A B', line2: 'C' } }));
    expect(checkoutHash(a, cart)).not.toBe(checkoutHash(b, cart));
  });
});
