import type DataLoader from 'dataloader';
import { requireCustomer, requireOwnerOrAdmin, type Viewer } from '../../platform/auth';
import { recordLoader } from '../../platform/loaders';
import type { PaymentRecord, PaymentStore } from './store/port';

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

  private visible(viewer: Viewer, payment: PaymentRecord | null): PaymentRecord | null {
    if (!payment) return null;
    requireOwnerOrAdmin(viewer, payment.customerId);
    return payment;
  }
}
