import type { DemoShop } from '../../embedded/demo-shop-types';
import type { CapturedPaymentImport, PaymentService } from './payment-service';
import { orderAmount, paymentIdForOrder } from './payments';

/** The captured payment of a past demo order: its total, charged to the card it names. */
export function capturedPaymentOfOrder(order: DemoShop['orders'][number], currency: string): CapturedPaymentImport {
  const id = paymentIdForOrder(order.id);
  return {
    id,
    orderId: order.id,
    customerId: order.customerId,
    amount: orderAmount(order.lines, currency).amount,
    currency,
    method: order.card,
    providerReference: `demo_${id.replace(/-/g, '')}`,
    createdAt: order.placedAt,
  };
}

/** Writes one captured payment per past order of the demo shop; false when payments already exist. */
export async function seedPayments(service: PaymentService, shop: DemoShop): Promise<boolean> {
  if (await service.hasPayments()) return false;
  await service.importCapturedPayments(shop.orders.map((order) => capturedPaymentOfOrder(order, shop.currency)));
  return true;
}
