import DataLoader from 'dataloader';
import { requireAdmin, type Viewer } from '../../platform/auth';
import { badUserInput, ShopError } from '../../platform/errors';
import { recordLoader } from '../../platform/loaders';
import type { ProductModel } from './mappers';
import { levelsByProduct } from './stock';
import type { StockFeed } from './stock-feed';
import type { StockLevelRecord, StockStore, WarehouseRecord } from './store/port';

/** Largest stock count one level accepts; anything above is a typo, not a warehouse. */
export const MAX_ON_HAND = 10_000_000;

export interface SetStockInput {
  productId: string;
  warehouseId: string;
  onHand: number;
}

/** This request's batched readers of inventory. */
export interface InventoryLoaders {
  stockLevels: DataLoader<string, StockLevelRecord[]>;
  warehouses: DataLoader<string, WarehouseRecord | null>;
}

/** Inventory's rules: who may see and change stock, and what counts are valid. */
export class InventoryService {
  /** Without a feed, stock changes are not announced and cannot be watched. */
  constructor(
    private readonly store: StockStore,
    private readonly feed?: StockFeed,
  ) {}

  loaders(): InventoryLoaders {
    return {
      stockLevels: new DataLoader(async (ids) => levelsByProduct(ids, await this.store.stockLevelsFor(ids)), {
        maxBatchSize: 1000,
      }),
      warehouses: recordLoader((ids) => this.store.warehousesByIds(ids), (w) => w.id),
    };
  }

  /** Whether inventory holds no warehouses yet (a fresh store). */
  async isEmpty(): Promise<boolean> {
    return (await this.store.listWarehouses()).length === 0;
  }

  /** Bulk import of warehouses and counts (the demo shop, migrations from another system); counts are validated. */
  async importStock(warehouses: readonly WarehouseRecord[], levels: readonly SetStockInput[]): Promise<void> {
    for (const level of levels) {
      if (!Number.isInteger(level.onHand) || level.onHand < 0 || level.onHand > MAX_ON_HAND) {
        throw badUserInput(`onHand of ${level.productId} must be a whole number from 0 to ${MAX_ON_HAND}.`);
      }
    }
    await this.store.importStock(warehouses, levels);
  }

  /** A warehouse by reference: admins only, as the list is. */
  async warehouse(viewer: Viewer, id: string, loaders: InventoryLoaders): Promise<WarehouseRecord | null> {
    requireAdmin(viewer);
    return loaders.warehouses.load(id);
  }

  async listWarehouses(viewer: Viewer): Promise<WarehouseRecord[]> {
    requireAdmin(viewer);
    return this.store.listWarehouses();
  }

  async stockLevels(viewer: Viewer, productId: string, loaders: InventoryLoaders): Promise<StockLevelRecord[]> {
    requireAdmin(viewer);
    return loaders.stockLevels.load(productId);
  }

  async setStock(viewer: Viewer, input: SetStockInput, loaders: InventoryLoaders): Promise<StockLevelRecord> {
    requireAdmin(viewer);
    if (!Number.isInteger(input.onHand) || input.onHand < 0 || input.onHand > MAX_ON_HAND) {
      throw badUserInput(`onHand must be a whole number from 0 to ${MAX_ON_HAND}.`, { field: 'onHand' });
    }
    if (!input.productId.trim()) throw badUserInput('productId must not be empty.', { field: 'productId' });
    const warehouse = await loaders.warehouses.load(input.warehouseId);
    if (!warehouse) throw badUserInput(`There is no warehouse ${input.warehouseId}.`, { field: 'warehouseId' });
    const result = await this.store.setOnHand(input.productId, input.warehouseId, input.onHand);
    if ('kind' in result) {
      throw badUserInput(`onHand cannot be below the ${result.reserved} units already reserved for orders.`, {
        field: 'onHand',
        reserved: result.reserved,
      });
    }
    loaders.stockLevels.clear(input.productId);
    await this.feed?.changed([input.productId]);
    return result;
  }

  /** The product each time its stock changes; anyone may watch (stock levels are public as availableQuantity). */
  async watchStock(productId: string): Promise<AsyncIterableIterator<ProductModel>> {
    if (!productId.trim()) throw badUserInput('productId must not be empty.', { field: 'productId' });
    if (!this.feed) throw new ShopError('SUBGRAPH_UNAVAILABLE', 'Live stock updates are not available from this service.');
    return this.feed.watch(productId);
  }
}
