import type DataLoader from 'dataloader';
import { requireCustomer, requireOwnerOrAdmin, type Viewer } from '../../platform/auth';
import { badUserInput } from '../../platform/errors';
import { recordLoader } from '../../platform/loaders';
import { cardSummary, currencyCode, type CardSummary } from './payments';
import type { NewPayment, PaymentRecord, PaymentStore } from './store/port';

/** A payment that was charged outside this service (the demo shop's history, migrations). */
export interface CapturedPaymentImport {
  id: string;
  orderId: string;
  customerId: string;
  /** Charged amount, minor units of `currency`. */
  amount: number;
  currency: string;
  method: CardSummary;
  providerReference?: string | null;
  createdAt: Date;
}

/** This request's batched readers of payments. */
export interface PaymentLoaders {
  byId: DataLoader<string, PaymentRecord | null>;
  byOrderId: DataLoader<string, PaymentRecord | null>;
}

/** Payment's rules: who may see a payment, and what a valid payment record is. */
export class PaymentService {
  constructor(private readonly store: PaymentStore) {}

  loaders(): PaymentLoaders {
    return {
      byId: recordLoader((ids) => this.store.paymentsByIds(ids), (p) => p.id),
      byOrderId: recordLoader((ids) => this.store.paymentsByOrderIds(ids), (p) => p.orderId),
    };
  }

  /** A payment by id for its customer or an admin; null when there is none. */
  async payment(viewer: Viewer, id: string, loaders: PaymentLoaders): Promise<PaymentRecord | null> {
    requireCustomer(viewer);
    return this.visible(viewer, await loaders.byId.load(id));
  }

  /** The payment of an order for its customer or an admin; null when the order has none. */
  async paymentForOrder(viewer: Viewer, orderId: string, loaders: PaymentLoaders): Promise<PaymentRecord | null> {
    requireCustomer(viewer);
    return this.visible(viewer, await loaders.byOrderId.load(orderId));
  }

  /** Whether any payment exists (the demo seed writes only into an empty store). */
  hasPayments(): Promise<boolean> {
    return this.store.hasPayments();
  }

  /**
   * Records payments already captured elsewhere, in one transaction; payments whose id or
   * order is already recorded are skipped. Returns how many were added.
   */
  async importCapturedPayments(list: readonly CapturedPaymentImport[]): Promise<number> {
    const records = list.map((p): NewPayment => {
      if (!Number.isSafeInteger(p.amount) || p.amount < 0) {
        throw badUserInput(`The amount of payment ${p.id} must be a non-negative integer of minor units.`, { field: 'amount' });
      }
      const method = cardSummary(p.method);
      return {
        id: p.id,
        orderId: p.orderId,
        customerId: p.customerId,
        status: 'CAPTURED',
        amount: p.amount,
        capturedAmount: p.amount,
        refundedAmount: 0,
        currency: currencyCode(p.currency),
        methodBrand: method.brand,
        methodLast4: method.last4,
        providerReference: p.providerReference ?? null,
        createdAt: p.createdAt,
      };
    });
    return this.store.importPayments(records);
  }

  private visible(viewer: Viewer, payment: PaymentRecord | null): PaymentRecord | null {
    if (!payment) return null;
    requireOwnerOrAdmin(viewer, payment.customerId);
    return payment;
  }
}
