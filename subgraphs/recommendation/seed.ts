import type { DemoShop } from '../../embedded/demo-shop-types';
import type { Purchase } from './co-purchases';
import type { RecommendationService } from './recommendation-service';

/** What the demo shop's past orders tell recommendations. */
export function purchasesOfShop(shop: DemoShop): Purchase[] {
  return shop.orders.map((order) => ({ customerId: order.customerId, productIds: order.lines.map((line) => line.productId) }));
}

/** Records every past order of the demo shop; false when history already exists. */
export async function seedRecommendations(service: RecommendationService, shop: DemoShop): Promise<boolean> {
  if (await service.hasHistory()) return false;
  await service.recordPurchases(purchasesOfShop(shop));
  return true;
}
