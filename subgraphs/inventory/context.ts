import type { RequestContext } from '../../platform/context';
import type { InventoryLoaders, InventoryService } from './inventory-service';

/** What inventory resolvers receive for one request. */
export interface InventoryContext extends RequestContext {
  inventory: InventoryService;
  loaders: InventoryLoaders;
}
