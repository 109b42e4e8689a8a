import type { EventEnvelope } from '../../../platform/events';
import type { StoreHandle } from '../../../platform/server';

/** Every status a payment can be in; the schema's `PaymentStatus` and the store's CHECK list the same names. */
export const PAYMENT_STATUSES = [
  'AUTHORIZED',
  'CAPTURED',
  'DECLINED',
  'FAILED',
  'VOIDED',
  'REFUNDED',
  'CAPTURE_FAILED',
  'VOID_FAILED',
  'REFUND_FAILED',
] as const;

/** Where a payment is in its life; the provider's answers move it along. */
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** A payment as stored. Amounts are integer minor units of `currency`. */
export interface PaymentRecord {
  id: string;
  orderId: string;
  customerId: string;
  status: PaymentStatus;
  /** Authorized amount. */
  amount: number;
  capturedAmount: number;
  refundedAmount: number;
  /** ISO 4217 code. */
  currency: string;
  /** Null only when the payment DECLINED or FAILED before the processor identified the card. */
  methodBrand: string | null;
  methodLast4: string | null;
  /**
   * The processor's reason when a payment did not go through (DECLINED, FAILED: card_declined,
   * processing_error) or its money could not be moved (CAPTURE_FAILED, VOID_FAILED,
   * REFUND_FAILED: no_such_charge, processing_error).
   */
  failureCode: string | null;
  providerReference: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A payment to write; timestamps default to now, the failure code to none. */
export type NewPayment = Omit<PaymentRecord, 'createdAt' | 'updatedAt' | 'failureCode'> & {
  failureCode?: string | null;
  createdAt?: Date;
};

/** What a status change may set besides the status itself. */
export interface PaymentChange {
  status: PaymentStatus;
  capturedAmount?: number;
  refundedAmount?: number;
  providerReference?: string;
  /** Set with a failed status; null clears it when the payment settles after all. */
  failureCode?: string | null;
}

/** A status change the store refused because the payment was not in the expected status. */
export interface StatusConflict {
  kind: 'status-conflict';
  /** The status found instead; null when there is no such payment. */
  current: PaymentStatus | null;
}

/** What payment keeps from OrderPlaced to charge the order once its stock is reserved. */
export interface PaymentIntent {
  orderId: string;
  customerId: string;
  /** Minor units of `currency`. */
  amount: number;
  currency: string;
  /** The processor token to charge; null once the payment is decided or the order closed. */
  token: string | null;
  createdAt: Date;
}

export type NewPaymentIntent = Omit<PaymentIntent, 'createdAt'>;

/** Why an order will not be paid after all. */
export type ClosureReason = 'CANCELLED' | 'REJECTED';

/** An order cancelled or rejected, recorded whenever the news arrived. */
export interface OrderClosure {
  orderId: string;
  reason: ClosureReason;
  closedAt: Date;
}

/** Everything payment knows about one order's checkout. */
export interface OrderPaymentState {
  intent: PaymentIntent | null;
  payment: PaymentRecord | null;
  closure: OrderClosure | null;
}

/** What became of an authorization decision the store was asked to record. */
export type DecisionRecord = 'recorded' | 'duplicate' | 'settled';

/**
 * One transaction about one order's payment. It holds that order's lock from its start,
 * so two handlers of the same order (a cancellation racing an authorization, twenty
 * deliveries of one event) take turns; everything in it commits together or not at all.
 */
export interface OrderPaymentTransaction {
  /** The order's intent, payment and closure as this transaction sees them. */
  state(): Promise<OrderPaymentState>;
  /** Records that `consumer` handled `messageId`; false when it already had, and the caller must change nothing. */
  markProcessed(consumer: string, messageId: string): Promise<boolean>;
  /** Records the order as closed (the first reason stays) and forgets its token. */
  closeOrder(reason: ClosureReason): Promise<void>;
  /** Forgets the processor token: the payment is decided and the token must not outlive its use. */
  forgetToken(): Promise<void>;
  /** As PaymentStore.createPayment, inside this transaction. */
  createPayment(payment: NewPayment): Promise<{ payment: PaymentRecord; created: boolean }>;
  /** As PaymentStore.updatePayment, inside this transaction. */
  updatePayment(id: string, expected: PaymentStatus, change: PaymentChange): Promise<PaymentRecord | StatusConflict>;
  /** Writes events to the outbox; the relay publishes them after commit. */
  enqueue(events: readonly EventEnvelope[]): Promise<void>;
}

/** Where payment keeps its payments. */
export interface PaymentStore extends StoreHandle {
  /**
   * The order's intent, payment and closure, read without a lock (handlers plan with it, then
   * verify inside `inOrderTransaction`). Calls made side by side may share one statement.
   */
  orderPaymentState(orderId: string): Promise<OrderPaymentState>;
  /** Runs `work` in one transaction holding the order's lock; a throw rolls everything back. */
  inOrderTransaction<T>(orderId: string, work: (tx: OrderPaymentTransaction) => Promise<T>): Promise<T>;
  /**
   * OrderPlaced's change, in one statement that holds the order's lock until it commits:
   * records that `consumer` handled `messageId` and stores the intent unless the order has one
   * already; its token only while the order is neither closed nor decided. False when the
   * message was handled before: nothing is written. Calls made side by side for different
   * orders may share one statement, each order's change as if alone; should that statement
   * fail, each call is tried alone, so only a call that fails by itself fails.
   */
  acceptIntent(consumer: string, messageId: string, intent: NewPaymentIntent): Promise<boolean>;
  /**
   * An authorization decision, in one statement that holds the order's lock until it commits,
   * while the order has neither a payment nor a closure: records that `consumer` handled
   * `messageId`, writes `payment`, forgets the token and writes `events` to the outbox.
   * `duplicate` when the message was handled before and `settled` when the order has a payment
   * or a closure: in both cases nothing is written. Calls made side by side for different
   * orders may share one statement, as `acceptIntent`'s do.
   */
  recordDecision(consumer: string, messageId: string, payment: NewPayment, events: readonly EventEnvelope[]): Promise<DecisionRecord>;
  /** Payments by id, in one query; unknown ids are absent. */
  paymentsByIds(ids: readonly string[]): Promise<PaymentRecord[]>;
  /** Payments in any of `statuses`, least recently changed first, at most `limit`. */
  paymentsInStatuses(statuses: readonly PaymentStatus[], limit: number): Promise<PaymentRecord[]>;
  /** How many payments are in each of `statuses` (absent: none). */
  countByStatus(statuses: readonly PaymentStatus[]): Promise<Partial<Record<PaymentStatus, number>>>;
  /** Payments of many orders in one query; orders without a payment are absent. */
  paymentsByOrderIds(orderIds: readonly string[]): Promise<PaymentRecord[]>;
  /**
   * Records a payment. When its order already has one, nothing is written and that
   * payment is returned with `created: false`, so a retried authorization is harmless.
   */
  createPayment(payment: NewPayment): Promise<{ payment: PaymentRecord; created: boolean }>;
  /**
   * Compare-and-set: applies `change` only while the payment is still in `expected`,
   * in one statement, so two concurrent captures or a capture racing a void cannot both win.
   */
  updatePayment(id: string, expected: PaymentStatus, change: PaymentChange): Promise<PaymentRecord | StatusConflict>;
  /**
   * Adds many payments charged elsewhere (another processor's history, test fixtures) in one
   * transaction, in chunks, skipping ids and orders that exist; returns how many were added.
   */
  importPayments(payments: readonly NewPayment[]): Promise<number>;
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
}
