import { domainEvent } from '../../../platform/events';
import { ORDER_EVENTS } from '../order-lifecycle';
import { announcement, CONSUMED_EVENT_TYPES, orderPlaced, reactionTo } from '../order-saga';

describe('the order side of the checkout saga', () => {
  it('consumes exactly the outcomes of reservation and payment', () => {
    expect([...CONSUMED_EVENT_TYPES].sort()).toEqual(
      ['PaymentAuthorized', 'PaymentFailed', 'StockReservationExpired', 'StockReservationFailed'].sort(),
    );
  });

  it.each([
    [domainEvent('StockReservationFailed', 'o1', { orderId: 'o1', reason: 'OUT_OF_STOCK', unavailable: [] }), 'REJECT'],
    [domainEvent('PaymentAuthorized', 'o1', { orderId: 'o1', paymentId: 'pay1', amount: { amount: 100, currency: 'USD' } }), 'CONFIRM'],
    [domainEvent('PaymentFailed', 'o1', { orderId: 'o1', reason: 'PAYMENT_DECLINED' }), 'FAIL_PAYMENT'],
    [domainEvent('StockReservationExpired', 'o1', { orderId: 'o1' }), 'EXPIRE'],
  ])('%s applies %s to the order it names', (event, lifecycleEvent) => {
    expect(reactionTo(event)).toEqual({ orderId: 'o1', event: lifecycleEvent });
  });

  it('ignores types it does not consume', () => {
    expect(reactionTo(domainEvent('StockReserved', 'o1', { orderId: 'o1', expiresAt: '2030-01-01T00:00:00Z' }))).toBeNull();
    expect(reactionTo(domainEvent('OrderPlaced', 'o1', {} as never))).toBeNull();
  });

  it('throws on an event that names no order, so it ends in the dead letters', () => {
    expect(() => reactionTo(domainEvent('PaymentAuthorized', 'o1', {} as never))).toThrow(/names no order/);
  });

  it('announces each shop-visible change with the event other subgraphs act on', () => {
    const announced = Object.fromEntries(
      ORDER_EVENTS.map((event) => {
        const e = announcement('o1', event, undefined, 'req-1');
        return [event, e && { type: e.type, payload: e.payload, aggregateId: e.aggregateId, requestId: e.requestId }];
      }),
    );
    expect(announced).toEqual({
      CONFIRM: { type: 'OrderConfirmed', payload: { orderId: 'o1' }, aggregateId: 'o1', requestId: 'req-1' },
      REJECT: { type: 'OrderRejected', payload: { orderId: 'o1', reason: 'OUT_OF_STOCK' }, aggregateId: 'o1', requestId: 'req-1' },
      EXPIRE: { type: 'OrderRejected', payload: { orderId: 'o1', reason: 'RESERVATION_EXPIRED' }, aggregateId: 'o1', requestId: 'req-1' },
      FAIL_PAYMENT: { type: 'OrderPaymentFailed', payload: { orderId: 'o1', reason: 'PAYMENT_DECLINED' }, aggregateId: 'o1', requestId: 'req-1' },
      CANCEL: { type: 'OrderCancelled', payload: { orderId: 'o1' }, aggregateId: 'o1', requestId: 'req-1' },
      SHIP: { type: 'OrderShipped', payload: { orderId: 'o1' }, aggregateId: 'o1', requestId: 'req-1' },
      DELIVER: null,
      REFUND: { type: 'OrderRefunded', payload: { orderId: 'o1' }, aggregateId: 'o1', requestId: 'req-1' },
    });
  });

  it('passes a payment failure reason on', () => {
    const cause = domainEvent('PaymentFailed', 'o1', { orderId: 'o1', reason: 'PROCESSING_ERROR' });
    expect(announcement('o1', 'FAIL_PAYMENT', cause)?.payload).toEqual({ orderId: 'o1', reason: 'PROCESSING_ERROR' });
  });

  it('gives every announcement a fresh id', () => {
    expect(announcement('o1', 'SHIP')!.id).not.toBe(announcement('o1', 'SHIP')!.id);
  });

  it('OrderPlaced carries lines with unit prices as money, the total and the payment token', () => {
    const event = orderPlaced(
      {
        id: 'o1',
        customerId: 'c1',
        status: 'PENDING',
        currency: 'USD',
        totalAmount: 5997 + 125,
        shippingAddress: null,
        placedAt: new Date(),
        lines: [
          { productId: 'lamp', quantity: 3, unitPriceAmount: 1999 },
          { productId: 'bulb', quantity: 1, unitPriceAmount: 125 },
        ],
      },
      'tok_visa',
      'req-9',
    );
    expect(event).toMatchObject({
      type: 'OrderPlaced',
      aggregateId: 'o1',
      requestId: 'req-9',
      payload: {
        orderId: 'o1',
        customerId: 'c1',
        lines: [
          { productId: 'lamp', quantity: 3, unitPrice: { amount: 1999, currency: 'USD' } },
          { productId: 'bulb', quantity: 1, unitPrice: { amount: 125, currency: 'USD' } },
        ],
        total: { amount: 6122, currency: 'USD' },
        paymentToken: 'tok_visa',
      },
    });
  });
});
