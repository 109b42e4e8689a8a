import type { StoreHandle } from '../../../platform/server';

/** Where a payment is in its life; the provider's answers move it along. */
export type PaymentStatus = 'AUTHORIZED' | 'CAPTURED' | 'DECLINED' | 'VOIDED' | 'REFUNDED';

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
  methodBrand: string;
  methodLast4: string;
  providerReference: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A payment to write; timestamps default to now. */
export type NewPayment = Omit<PaymentRecord, 'createdAt' | 'updatedAt'> & { createdAt?: Date };

/** What a status change may set besides the status itself. */
export interface PaymentChange {
  status: PaymentStatus;
  capturedAmount?: number;
  refundedAmount?: number;
  providerReference?: string;
}

/** A status change the store refused because the payment was not in the expected status. */
export interface StatusConflict {
  kind: 'status-conflict';
  /** The status found instead; null when there is no such payment. */
  current: PaymentStatus | null;
}

/** Where payment keeps its payments. */
export interface PaymentStore extends StoreHandle {
  /** Payments by id, in one query; unknown ids are absent. */
  paymentsByIds(ids: readonly string[]): Promise<PaymentRecord[]>;
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
  /** Adds many payments in one transaction, in chunks, skipping ids and orders that exist; returns how many were added. */
  importPayments(payments: readonly NewPayment[]): Promise<number>;
  /** Whether any payment is stored (seeding runs only on an empty store). */
  hasPayments(): Promise<boolean>;
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
}
