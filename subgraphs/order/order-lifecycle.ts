import { ShopError } from '../../platform/errors';

/** Every status an order can be in; the schema's `OrderStatus` and the store's CHECK list the same names. */
export const ORDER_STATUSES = [
  'PENDING',
  'CONFIRMED',
  'REJECTED',
  'PAYMENT_FAILED',
  'CANCELLED',
  'SHIPPED',
  'DELIVERED',
  'REFUNDED',
] as const;

export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** What can happen to an order; each names the outcome of a checkout step or a shop action. */
export const ORDER_EVENTS = [
  /** Stock is reserved and payment authorized. */
  'CONFIRM',
  /** Inventory could not reserve every line. */
  'REJECT',
  /** The stock reserved for an unpaid order was given back when its time ran out. */
  'EXPIRE',
  /** The payment provider declined or failed. */
  'FAIL_PAYMENT',
  /** The customer or the shop called the order off before it shipped. */
  'CANCEL',
  /** The parcel left the warehouse. */
  'SHIP',
  /** The parcel reached the customer. */
  'DELIVER',
  /** The money went back to the customer after shipment. */
  'REFUND',
] as const;

export type OrderEvent = (typeof ORDER_EVENTS)[number];

/**
 * The whole order lifecycle: for each status, the events it accepts and the status each
 * leads to. An event missing from a status's row is refused; that is the only guard,
 * so no service checks statuses on its own. Statuses with an empty row are final.
 */
export const ORDER_LIFECYCLE: { readonly [S in OrderStatus]: { readonly [E in OrderEvent]?: OrderStatus } } = {
  PENDING: {
    CONFIRM: 'CONFIRMED',
    REJECT: 'REJECTED',
    // Only an unpaid order loses its reservation; a confirmed one keeps its stock whatever the clock says.
    EXPIRE: 'REJECTED',
    FAIL_PAYMENT: 'PAYMENT_FAILED',
    CANCEL: 'CANCELLED',
  },
  // Cancelling a confirmed order releases its stock and voids its payment; once shipped it can only be refunded.
  // A reservation that expired while the payment was still on its way cannot be shipped from: the
  // order is cancelled, and the OrderRejected it announces voids the authorization.
  CONFIRMED: { SHIP: 'SHIPPED', CANCEL: 'CANCELLED', EXPIRE: 'CANCELLED' },
  // A parcel lost or sent back on the way is refunded without waiting for a delivery that will not come.
  SHIPPED: { DELIVER: 'DELIVERED', REFUND: 'REFUNDED' },
  DELIVERED: { REFUND: 'REFUNDED' },
  REJECTED: {},
  PAYMENT_FAILED: {},
  CANCELLED: {},
  REFUNDED: {},
};

/** Why an order failed; the schema's `OrderFailureReason` and the store's CHECK list the same names. */
export const ORDER_FAILURE_REASONS = ['OUT_OF_STOCK', 'PAYMENT_DECLINED', 'RESERVATION_EXPIRED'] as const;

export type OrderFailureReason = (typeof ORDER_FAILURE_REASONS)[number];

/** The events that end an order unfulfilled, and the reason each records on it. */
export const FAILURE_REASONS: { readonly [E in OrderEvent]?: OrderFailureReason } = {
  REJECT: 'OUT_OF_STOCK',
  EXPIRE: 'RESERVATION_EXPIRED',
  FAIL_PAYMENT: 'PAYMENT_DECLINED',
};

export function isOrderStatus(value: unknown): value is OrderStatus {
  return typeof value === 'string' && (ORDER_STATUSES as readonly string[]).includes(value);
}

/** The status `event` moves an order in `from` to, or `undefined` when the lifecycle refuses it. */
export function nextStatus(from: OrderStatus, event: OrderEvent): OrderStatus | undefined {
  return ORDER_LIFECYCLE[from][event];
}

/** Every status `event` moves an order from, with the status it moves it to. */
export function movesOf(event: OrderEvent): Partial<Record<OrderStatus, OrderStatus>> {
  const moves: Partial<Record<OrderStatus, OrderStatus>> = {};
  for (const from of ORDER_STATUSES) {
    const to = nextStatus(from, event);
    if (to) moves[from] = to;
  }
  return moves;
}

/** The status `event` moves an order in `from` to; CONFLICT when the lifecycle refuses it. */
export function transition(from: OrderStatus, event: OrderEvent): OrderStatus {
  const to = nextStatus(from, event);
  if (!to) {
    throw new ShopError('CONFLICT', `An order that is ${from} cannot take the ${event} event.`, { status: from, event });
  }
  return to;
}

/** The failure reason `event` records on an order, or null when it is not a failure. */
export function failureReasonOf(event: OrderEvent): OrderFailureReason | null {
  return FAILURE_REASONS[event] ?? null;
}

/** Events an order in `status` accepts now, in lifecycle order. */
export function allowedEvents(status: OrderStatus): OrderEvent[] {
  return ORDER_EVENTS.filter((event) => nextStatus(status, event) !== undefined);
}

/** A final status accepts no event. */
export function isFinal(status: OrderStatus): boolean {
  return allowedEvents(status).length === 0;
}

/**
 * How far along the lifecycle each status is: the longest path from PENDING in the
 * transition table. Every transition moves to a later step (the table has no cycles), so
 * of two statuses one order has had, the later step is the newer one, whatever the clocks say.
 */
export const LIFECYCLE_STEPS: { readonly [S in OrderStatus]: number } = (() => {
  const steps = Object.fromEntries(ORDER_STATUSES.map((status) => [status, 0])) as Record<OrderStatus, number>;
  // Relaxing every transition once per status reaches the longest paths of an acyclic table.
  for (let round = 0; round < ORDER_STATUSES.length; round++) {
    for (const from of ORDER_STATUSES) {
      for (const to of Object.values(ORDER_LIFECYCLE[from])) steps[to] = Math.max(steps[to], steps[from] + 1);
    }
  }
  return steps;
})();
