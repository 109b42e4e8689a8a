import { ShopError } from '../../../platform/errors';
import {
  allowedEvents,
  failureReasonOf,
  isFinal,
  isOrderStatus,
  ORDER_EVENTS,
  ORDER_STATUSES,
  transition,
  type OrderEvent,
  type OrderStatus,
} from '../order-lifecycle';

/** The lifecycle as the shop describes it, written out independently of the table under test. */
const LEGAL: [OrderStatus, OrderEvent, OrderStatus][] = [
  ['PENDING', 'CONFIRM', 'CONFIRMED'],
  ['PENDING', 'REJECT', 'REJECTED'],
  ['PENDING', 'EXPIRE', 'REJECTED'],
  ['PENDING', 'FAIL_PAYMENT', 'PAYMENT_FAILED'],
  ['PENDING', 'CANCEL', 'CANCELLED'],
  ['CONFIRMED', 'SHIP', 'SHIPPED'],
  ['CONFIRMED', 'CANCEL', 'CANCELLED'],
  ['CONFIRMED', 'EXPIRE', 'CANCELLED'],
  ['SHIPPED', 'DELIVER', 'DELIVERED'],
  ['SHIPPED', 'REFUND', 'REFUNDED'],
  ['DELIVERED', 'REFUND', 'REFUNDED'],
];

const legalKey = new Set(LEGAL.map(([from, event]) => `${from}:${event}`));
const ILLEGAL: [OrderStatus, OrderEvent][] = ORDER_STATUSES.flatMap((from) =>
  ORDER_EVENTS.filter((event) => !legalKey.has(`${from}:${event}`)).map((event): [OrderStatus, OrderEvent] => [from, event]),
);

describe('order lifecycle', () => {
  it('knows the eight statuses of the schema', () => {
    expect([...ORDER_STATUSES]).toEqual([
      'PENDING',
      'CONFIRMED',
      'REJECTED',
      'PAYMENT_FAILED',
      'CANCELLED',
      'SHIPPED',
      'DELIVERED',
      'REFUNDED',
    ]);
    expect(isOrderStatus('SHIPPED')).toBe(true);
    expect(isOrderStatus('shipped')).toBe(false);
    expect(isOrderStatus(undefined)).toBe(false);
  });

  it('lists each status and event pair at most once among the legal transitions', () => {
    // Everything not listed is illegal (below): a pair listed twice would hide one target.
    expect(legalKey.size).toBe(LEGAL.length);
  });

  it.each(LEGAL)('%s --%s--> %s', (from, event, to) => {
    expect(transition(from, event)).toBe(to);
  });

  it.each(ILLEGAL)('%s refuses %s with CONFLICT', (from, event) => {
    let thrown: unknown;
    try {
      transition(from, event);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ShopError);
    expect((thrown as ShopError).code).toBe('CONFLICT');
    expect((thrown as ShopError).extensions).toMatchObject({ code: 'CONFLICT', status: from, event });
  });

  it('lists the events each status accepts', () => {
    expect(allowedEvents('PENDING')).toEqual(['CONFIRM', 'REJECT', 'EXPIRE', 'FAIL_PAYMENT', 'CANCEL']);
    expect(allowedEvents('CONFIRMED')).toEqual(['EXPIRE', 'CANCEL', 'SHIP']);
    expect(allowedEvents('SHIPPED')).toEqual(['DELIVER', 'REFUND']);
    expect(allowedEvents('DELIVERED')).toEqual(['REFUND']);
  });

  it('treats rejected, failed, cancelled and refunded orders as final', () => {
    expect(ORDER_STATUSES.filter(isFinal)).toEqual(['REJECTED', 'PAYMENT_FAILED', 'CANCELLED', 'REFUNDED']);
  });

  it('records why an order failed on the events that fail it, and on no other', () => {
    expect(failureReasonOf('REJECT')).toBe('OUT_OF_STOCK');
    expect(failureReasonOf('EXPIRE')).toBe('RESERVATION_EXPIRED');
    expect(failureReasonOf('FAIL_PAYMENT')).toBe('PAYMENT_DECLINED');
    for (const event of ['CONFIRM', 'CANCEL', 'SHIP', 'DELIVER', 'REFUND'] as const) expect(failureReasonOf(event)).toBeNull();
  });

  it('lets a reservation expire only before shipment: an unpaid order is rejected, a paid one cancelled', () => {
    expect(transition('PENDING', 'EXPIRE')).toBe('REJECTED');
    expect(transition('CONFIRMED', 'EXPIRE')).toBe('CANCELLED');
    for (const status of ORDER_STATUSES.filter((s) => s !== 'PENDING' && s !== 'CONFIRMED')) {
      expect(() => transition(status, 'EXPIRE')).toThrow(ShopError);
    }
  });

  it('refunds only what has shipped', () => {
    expect(ORDER_STATUSES.filter((status) => allowedEvents(status).includes('REFUND'))).toEqual(['SHIPPED', 'DELIVERED']);
  });

  it('cannot cancel an order once it has shipped', () => {
    for (const status of ['SHIPPED', 'DELIVERED', 'REFUNDED'] as const) {
      expect(() => transition(status, 'CANCEL')).toThrow(ShopError);
    }
  });

  it('reaches every status from PENDING', () => {
    const reached = new Set<OrderStatus>(['PENDING']);
    const queue: OrderStatus[] = ['PENDING'];
    while (queue.length) {
      const from = queue.shift()!;
      for (const event of allowedEvents(from)) {
        const to = transition(from, event);
        if (!reached.has(to)) {
          reached.add(to);
          queue.push(to);
        }
      }
    }
    expect([...reached].sort()).toEqual([...ORDER_STATUSES].sort());
  });
});
