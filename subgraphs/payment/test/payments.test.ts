import { ShopError } from '../../../platform/errors';
import { capturedAmountOf, cardFromProcessor, cardSummary, currencyCode, orderAmount, paymentIdForOrder, refundedAmountOf } from '../payments';

describe('order amount', () => {
  it('sums unit price times quantity over the lines, in minor units', () => {
    expect(orderAmount([{ unitPriceAmount: 1999, quantity: 3 }, { unitPriceAmount: 1, quantity: 1 }], 'USD')).toEqual({
      amount: 5998,
      currency: 'USD',
    });
  });

  it('is zero for an order without lines', () => {
    expect(orderAmount([], 'EUR')).toEqual({ amount: 0, currency: 'EUR' });
  });

  it('refuses fractional prices instead of rounding them', () => {
    expect(() => orderAmount([{ unitPriceAmount: 10.5, quantity: 2 }], 'USD')).toThrow(/integer/);
  });
});

describe('payment id of an order', () => {
  it('is the same for the same order and different for another', () => {
    expect(paymentIdForOrder('order-1')).toBe(paymentIdForOrder('order-1'));
    expect(paymentIdForOrder('order-1')).not.toBe(paymentIdForOrder('order-2'));
  });

  it('is a version 5 shaped UUID', () => {
    expect(paymentIdForOrder('7c9e6679-7425-40de-944b-e07fc1f90ae7')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});

describe('card summary', () => {
  it('keeps a brand and four digits', () => {
    expect(cardSummary({ brand: ' Visa ', last4: '4242' })).toEqual({ brand: 'Visa', last4: '4242' });
    expect(cardSummary({ brand: 'American Express', last4: '0005' })).toEqual({ brand: 'American Express', last4: '0005' });
  });

  it.each([
    ['a full card number as last4', { brand: 'Visa', last4: '4242424242424242' }],
    ['three digits', { brand: 'Visa', last4: '424' }],
    ['letters as last4', { brand: 'Visa', last4: '42a2' }],
    ['digits in the brand', { brand: '4242 4242 4242 4242', last4: '4242' }],
    ['an empty brand', { brand: '  ', last4: '4242' }],
  ])('refuses %s', (_label, card) => {
    expect(() => cardSummary(card)).toThrow(ShopError);
  });
});

describe('currency code', () => {
  it('accepts ISO 4217 codes and refuses anything else', () => {
    expect(currencyCode('USD')).toBe('USD');
    for (const bad of ['usd', 'US', 'USDX', '']) expect(() => currencyCode(bad)).toThrow(ShopError);
  });
});

describe('card from a processor answer', () => {
  it("writes known brands the shop's way and capitalizes others", () => {
    expect(cardFromProcessor('visa', '4242')).toEqual({ brand: 'Visa', last4: '4242' });
    expect(cardFromProcessor('mastercard', '4444')).toEqual({ brand: 'Mastercard', last4: '4444' });
    expect(cardFromProcessor('amex', '0005')).toEqual({ brand: 'American Express', last4: '0005' });
    expect(cardFromProcessor('elo', '1234')).toEqual({ brand: 'Elo', last4: '1234' });
    // Processors name some brands with underscores; those are words, not card data.
    expect(cardFromProcessor('cartes_bancaires', '1234')).toEqual({ brand: 'Cartes Bancaires', last4: '1234' });
    expect(cardFromProcessor('eftpos_au', '1234')).toEqual({ brand: 'Eftpos Au', last4: '1234' });
  });

  it('refuses an answer carrying more card data than the last four digits', () => {
    expect(() => cardFromProcessor('visa', '4242424242424242')).toThrow(ShopError);
    expect(() => cardFromProcessor('4242 4242', '4242')).toThrow(ShopError);
  });
});

describe('captured and refunded amounts', () => {
  const payment = (status: string, capturedAmount: number, refundedAmount: number) =>
    ({ status, capturedAmount, refundedAmount, currency: 'USD' }) as Parameters<typeof capturedAmountOf>[0];

  it('are null until the money moved', () => {
    expect(capturedAmountOf(payment('AUTHORIZED', 0, 0))).toBeNull();
    expect(capturedAmountOf(payment('VOIDED', 0, 0))).toBeNull();
    expect(refundedAmountOf(payment('CAPTURED', 900, 0))).toBeNull();
  });

  it('show what was charged and what went back', () => {
    expect(capturedAmountOf(payment('CAPTURED', 900, 0))).toEqual({ amount: 900, currency: 'USD' });
    expect(capturedAmountOf(payment('REFUNDED', 900, 900))).toEqual({ amount: 900, currency: 'USD' });
    expect(refundedAmountOf(payment('REFUNDED', 900, 900))).toEqual({ amount: 900, currency: 'USD' });
  });
});
