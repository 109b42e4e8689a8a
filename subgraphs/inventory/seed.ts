import type { DemoShop } from '../../platform/demo-shop-types';
import type { InventoryService } from './inventory-service';

/** Writes the demo warehouses and stock counts into an empty inventory; false when it has data. */
export async function seedInventory(service: InventoryService, shop: DemoShop): Promise<boolean> {
  if (!(await service.isEmpty())) return false;
  await service.importStock(shop.warehouses, shop.stock);
  return true;
}
