import type DataLoader from 'dataloader';
import { requireAdmin, requireCustomer, requireOwnerOrAdmin, type Viewer } from '../../platform/auth';
import { recordLoader } from '../../platform/loaders';
import { NEEDS_ATTENTION } from './metrics';
import type { PaymentRecord, PaymentStore } from './store/port';

/** This request's batched readers of payments. */
export interface PaymentLoaders {
  byId: DataLoader<string, PaymentRecord | null>;
  byOrderId: DataLoader<string, PaymentRecord | null>;
}

/** What admins can do about money the processor would not move (the saga does it). */
export interface PaymentSettlements {
  retrySettlement(paymentId: string): Promise<PaymentRecord>;
  voidAuthorization(paymentId: string): Promise<PaymentRecord>;
}

/** Most payments one `paymentsNeedingAttention` returns. */
const MAX_ATTENTION_PAGE = 100;

/** Payment's rules: who may see a payment, and who may act on one whose money did not move. */
export class PaymentService {
  constructor(
    private readonly store: PaymentStore,
    private readonly settlements: PaymentSettlements,
  ) {}

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

  /** Admins: payments whose capture, void or refund failed, longest waiting first. */
  async paymentsNeedingAttention(viewer: Viewer, first: number): Promise<PaymentRecord[]> {
    requireAdmin(viewer);
    return this.store.paymentsInStatuses(NEEDS_ATTENTION, Math.max(0, Math.min(first, MAX_ATTENTION_PAGE)));
  }

  /** Admins: tries a failed capture, void or refund again with the same idempotency key. */
  retryPayment(viewer: Viewer, id: string): Promise<PaymentRecord> {
    requireAdmin(viewer);
    return this.settlements.retrySettlement(id);
  }

  /** Admins: releases the hold of a payment whose capture (or void) failed. */
  voidPayment(viewer: Viewer, id: string): Promise<PaymentRecord> {
    requireAdmin(viewer);
    return this.settlements.voidAuthorization(id);
  }

  private visible(viewer: Viewer, payment: PaymentRecord | null): PaymentRecord | null {
    if (!payment) return null;
    requireOwnerOrAdmin(viewer, payment.customerId);
    return payment;
  }
}
