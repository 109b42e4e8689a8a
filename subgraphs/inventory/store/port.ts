import type { StoreHandle } from '../../../platform/server';

/** A warehouse as stored. */
export interface WarehouseRecord {
  id: string;
  code: string;
  name: string;
  city: string;
  country: string;
}

/** Units of one product in one warehouse. */
export interface StockLevelRecord {
  productId: string;
  warehouseId: string;
  onHand: number;
  reserved: number;
  updatedAt: Date;
}

/** Result of a stock count that the store refused because more units are promised than counted. */
export interface BelowReserved {
  kind: 'below-reserved';
  reserved: number;
}

/** Where inventory keeps warehouses and stock levels. */
export interface StockStore extends StoreHandle {
  /** Every warehouse, ordered by code. */
  listWarehouses(): Promise<WarehouseRecord[]>;
  /** Warehouses by id, in one query; unknown ids are absent. */
  warehousesByIds(ids: readonly string[]): Promise<WarehouseRecord[]>;
  /** Stock levels of many products in one query, ordered by product then warehouse. */
  stockLevelsFor(productIds: readonly string[]): Promise<StockLevelRecord[]>;
  /**
   * Sets the physical count atomically; refuses (and changes nothing) when the
   * new count is below the units already reserved.
   */
  setOnHand(productId: string, warehouseId: string, onHand: number): Promise<StockLevelRecord | BelowReserved>;
  /** Adds warehouses, ignoring ids that exist (seeding). */
  addWarehouses(warehouses: readonly WarehouseRecord[]): Promise<void>;
  /** Sets many counts in one statement (seeding, bulk imports); reserved stays as it is. */
  setOnHandMany(levels: readonly { productId: string; warehouseId: string; onHand: number }[]): Promise<void>;
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
}
