import type { DemoShop } from '../../embedded/demo-shop-types';
import type { OrderService } from './order-service';

/**
 * Writes the demo shop's past orders, all delivered, through the order service (so line
 * rules apply and totals are priced from the lines). Does nothing when orders exist.
 * Returns whether it wrote anything.
 */
export async function seedOrders(service: OrderService, shop: DemoShop): Promise<boolean> {
  if (await service.hasOrders()) return false;
  await service.importPastOrders(
    shop.orders.map((order) => ({
      id: order.id,
      customerId: order.customerId,
      status: 'DELIVERED',
      currency: shop.currency,
      placedAt: order.placedAt,
      shippingAddress: order.shippingAddress,
      lines: order.lines,
    })),
  );
  return true;
}
