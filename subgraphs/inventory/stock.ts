import { groupByKey } from '../../platform/loaders';
import type { StockLevelRecord } from './store/port';

/** Units that can be sold from one level: on hand minus reserved, never below zero. */
export function availableUnits(level: Pick<StockLevelRecord, 'onHand' | 'reserved'>): number {
  return Math.max(0, level.onHand - level.reserved);
}

/** Units of a product that can be sold now, over all its warehouses. */
export function totalAvailable(levels: readonly Pick<StockLevelRecord, 'onHand' | 'reserved'>[]): number {
  let total = 0;
  for (const level of levels) total += availableUnits(level);
  return total;
}

/** Groups levels by product, keeping the order of `productIds`; products without stock get []. */
export function levelsByProduct<T extends { productId: string }>(productIds: readonly string[], levels: readonly T[]): T[][] {
  return groupByKey(productIds, levels, (level) => level.productId);
}
