import type { DemoShop } from '../../embedded/demo-shop-types';
import type { StockStore } from './store/port';

/** Writes the demo warehouses and stock counts into an empty inventory; false when it has data. */
export async function seedInventory(store: StockStore, shop: DemoShop): Promise<boolean> {
  if ((await store.listWarehouses()).length > 0) return false;
  await store.addWarehouses(shop.warehouses);
  await store.setOnHandMany(shop.stock);
  return true;
}
