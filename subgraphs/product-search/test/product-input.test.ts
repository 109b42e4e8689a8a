import { ShopError } from '../../../platform/errors';
import {
  MAX_DESCRIPTION_LENGTH,
  MAX_NAME_LENGTH,
  MAX_PRICE,
  MAX_SKU_LENGTH,
  parseProductChanges,
  parseProductFields,
  type CreateProductInput,
} from '../product-input';

const valid: CreateProductInput = {
  sku: 'OAK-CHAIR-1',
  name: 'Oak Chair',
  description: 'Solid oak.',
  price: 12_900,
  categoryId: 'cat-chairs',
  brandId: 'brand-oakline',
};

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ShopError && error.code === 'BAD_USER_INPUT') return error.extensions.field as string;
    throw error;
  }
  return undefined;
}

describe('a new product', () => {
  it('is trimmed, its name spaced once, its price kept in minor units', () => {
    expect(parseProductFields({ ...valid, sku: ' OAK-1 ', name: '  Oak   Chair ', description: ' Solid. ' })).toEqual({
      sku: 'OAK-1',
      name: 'Oak Chair',
      description: 'Solid.',
      priceAmount: 12_900,
      categoryId: 'cat-chairs',
      brandId: 'brand-oakline',
    });
  });

  it('may be free and have no description', () => {
    expect(parseProductFields({ ...valid, price: 0, description: '  ' })).toMatchObject({ priceAmount: 0, description: '' });
  });

  it('accepts the longest allowed values', () => {
    expect(() =>
      parseProductFields({
        ...valid,
        sku: 'S'.repeat(MAX_SKU_LENGTH),
        name: 'N'.repeat(MAX_NAME_LENGTH),
        description: 'D'.repeat(MAX_DESCRIPTION_LENGTH),
        price: MAX_PRICE,
      }),
    ).not.toThrow();
  });

  it.each<[string, Partial<CreateProductInput>]>([
    ['sku', { sku: '' }],
    ['sku', { sku: '   ' }],
    ['sku', { sku: 'has space' }],
    ['sku', { sku: '-leading-dash' }],
    ['sku', { sku: 'S'.repeat(MAX_SKU_LENGTH + 1) }],
    ['name', { name: ' ' }],
    ['name', { name: 'N'.repeat(MAX_NAME_LENGTH + 1) }],
    ['description', { description: 'D'.repeat(MAX_DESCRIPTION_LENGTH + 1) }],
    ['price', { price: -1 }],
    ['price', { price: 9.99 }],
    ['price', { price: MAX_PRICE + 1 }],
    ['categoryId', { categoryId: ' ' }],
    ['brandId', { brandId: '' }],
  ])('is refused with the field named: %s', (field, change) => {
    expect(fieldOf(() => parseProductFields({ ...valid, ...change }))).toBe(field);
  });
});

describe('changes to a product', () => {
  it('hold only the fields given; null keeps a field', () => {
    expect(parseProductChanges({})).toEqual({});
    expect(parseProductChanges({ name: null, sku: undefined, price: 0 })).toEqual({ priceAmount: 0 });
    expect(parseProductChanges({ name: ' Walnut  Chair ', brandId: 'b' })).toEqual({ name: 'Walnut Chair', brandId: 'b' });
  });

  it('follow the rules of a new product', () => {
    expect(fieldOf(() => parseProductChanges({ price: -5 }))).toBe('price');
    expect(fieldOf(() => parseProductChanges({ sku: 'bad sku' }))).toBe('sku');
    expect(fieldOf(() => parseProductChanges({ name: '' }))).toBe('name');
    expect(fieldOf(() => parseProductChanges({ categoryId: '' }))).toBe('categoryId');
  });
});
