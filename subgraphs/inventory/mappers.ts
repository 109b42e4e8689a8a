/** How inventory's GraphQL types are backed, for the generated resolver types. */
export type { StockLevelRecord as StockLevelModel, WarehouseRecord as WarehouseModel } from './store/port';

/** A product is only its id here; every field is computed from stock levels. */
export interface ProductModel {
  id: string;
}
