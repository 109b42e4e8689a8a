import { ShopError } from '../../../platform/errors';
import { money, type Money } from '../../../platform/money';
import { checkOrderLines, lineTotal, MAX_AMOUNT, MAX_ORDER_LINES, orderTotal, priceCart, priceOrder } from '../pricing';

const line = (quantity: number, unitPriceAmount: number, productId = 'p1') => ({ productId, quantity, unitPriceAmount });

function codeAndField(run: () => unknown): { code?: string; field?: unknown } {
  try {
    run();
  } catch (error) {
    if (error instanceof ShopError) return { code: error.code, field: error.extensions.field };
    throw error;
  }
  return {};
}

describe('pricing', () => {
  it('a line costs unit price times quantity in minor units', () => {
    expect(lineTotal(money(1999, 'USD'), 3)).toEqual({ amount: 5997, currency: 'USD' });
    expect(lineTotal(money(0, 'USD'), 5)).toEqual({ amount: 0, currency: 'USD' });
  });

  it('keeps amounts exact where floats would not be', () => {
    // 0.1 + 0.2 style drift: 10 cents times 3 plus 20 cents is exactly 50 cents.
    expect(orderTotal([line(3, 10), line(1, 20)], 'USD')).toEqual({ amount: 50, currency: 'USD' });
  });

  it('an order total is the sum of its line totals', () => {
    expect(orderTotal([line(2, 1250), line(1, 99), line(99, 1)], 'EUR')).toEqual({ amount: 2500 + 99 + 99, currency: 'EUR' });
  });

  it('prices a valid order', () => {
    expect(priceOrder([line(4, 2500, 'a'), line(1, 1, 'b')], 'USD')).toEqual({ amount: 10001, currency: 'USD' });
  });

  it('refuses an order without lines', () => {
    expect(codeAndField(() => priceOrder([], 'USD'))).toEqual({ code: 'BAD_USER_INPUT', field: 'lines' });
  });

  it.each([0, 100, -1, 1.5, Number.NaN])('refuses a quantity of %p', (quantity) => {
    expect(codeAndField(() => checkOrderLines([line(1, 1), line(quantity, 100)]))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'lines[1].quantity',
    });
  });

  it.each([1, 99])('accepts a quantity of %p', (quantity) => {
    expect(() => checkOrderLines([line(quantity, 100)])).not.toThrow();
  });

  it.each([-1, 0.5, MAX_AMOUNT + 1])('refuses a unit price of %p', (unitPriceAmount) => {
    expect(codeAndField(() => checkOrderLines([line(1, unitPriceAmount)]))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'lines[0].unitPriceAmount',
    });
  });

  it('refuses a line without a product', () => {
    expect(codeAndField(() => checkOrderLines([line(1, 1, ' ')], 'orders[2].lines'))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'orders[2].lines[0].productId',
    });
  });

  it('refuses more lines than an order holds', () => {
    const lines = Array.from({ length: MAX_ORDER_LINES + 1 }, (_, i) => line(1, 1, `p${i}`));
    expect(codeAndField(() => priceOrder(lines, 'USD'))).toEqual({ code: 'BAD_USER_INPUT', field: 'lines' });
    expect(priceOrder(lines.slice(1), 'USD').amount).toBe(MAX_ORDER_LINES);
  });

  it('refuses a total the store cannot hold', () => {
    expect(codeAndField(() => priceOrder([line(2, MAX_AMOUNT)], 'USD'))).toEqual({ code: 'BAD_USER_INPUT', field: 'lines' });
    expect(priceOrder([line(1, MAX_AMOUNT)], 'USD').amount).toBe(MAX_AMOUNT);
  });

  describe('pricing a cart from the catalog', () => {
    const catalog = new Map([
      ['lamp', { price: money(1999, 'USD') }],
      ['rug', { price: money(12500, 'USD') }],
    ]);

    it('prices each line at the catalog price, in cart order, and sums the subtotal', () => {
      const priced = priceCart(
        [
          { productId: 'rug', quantity: 1 },
          { productId: 'lamp', quantity: 3 },
        ],
        catalog,
        'USD',
      );
      expect(priced).toEqual({
        lines: [
          { productId: 'rug', quantity: 1, unitPrice: money(12500, 'USD'), lineTotal: money(12500, 'USD') },
          { productId: 'lamp', quantity: 3, unitPrice: money(1999, 'USD'), lineTotal: money(5997, 'USD') },
        ],
        subtotal: money(18497, 'USD'),
        missing: [],
      });
    });

    it('leaves out products the catalog no longer has and says which', () => {
      const priced = priceCart(
        [
          { productId: 'gone', quantity: 2 },
          { productId: 'lamp', quantity: 1 },
        ],
        catalog,
        'USD',
      );
      expect(priced.lines.map((l) => l.productId)).toEqual(['lamp']);
      expect(priced.subtotal).toEqual(money(1999, 'USD'));
      expect(priced.missing).toEqual(['gone']);
    });

    it('leaves out products the catalog archived (no longer sold) and says which', () => {
      const withArchived = new Map<string, { price: Money; archived?: boolean }>([...catalog, ['old-lamp', { price: money(999, 'USD'), archived: true }]]);
      const priced = priceCart(
        [
          { productId: 'old-lamp', quantity: 1 },
          { productId: 'rug', quantity: 1 },
        ],
        withArchived,
        'USD',
      );
      expect(priced.lines.map((l) => l.productId)).toEqual(['rug']);
      expect(priced.subtotal).toEqual(money(12500, 'USD'));
      expect(priced.missing).toEqual(['old-lamp']);
    });

    it('an empty cart costs zero in the shop currency', () => {
      expect(priceCart([], catalog, 'USD')).toEqual({ lines: [], subtotal: money(0, 'USD'), missing: [] });
    });

    it('refuses a catalog priced in another currency than the shop sells in', () => {
      expect(() => priceCart([{ productId: 'lamp', quantity: 1 }], catalog, 'EUR')).toThrow(/USD/);
    });
  });
});
