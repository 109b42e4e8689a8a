import type { Resolvers } from './generated/resolvers-types';
import type { ProductModel } from './mappers';
import { availableUnits, totalAvailable } from './stock';

/** Thin: read arguments and context, call the inventory service. */
export const resolvers: Resolvers = {
  Product: {
    __resolveReference: (ref) => ({ id: ref.id }),
    availableQuantity: async ({ id }, _args, { loaders }) => totalAvailable(await loaders.stockLevels.load(id)),
    inStock: async ({ id }, _args, { loaders }) => totalAvailable(await loaders.stockLevels.load(id)) > 0,
    stockLevels: ({ id }, _args, { inventory, viewer, loaders }) => inventory.stockLevels(viewer, id, loaders),
  },
  Warehouse: {
    __resolveReference: (ref, { inventory, viewer, loaders }) => inventory.warehouse(viewer, ref.id, loaders),
  },
  StockLevel: {
    product: (level) => ({ id: level.productId }),
    warehouse: async (level, _args, { loaders }) => (await loaders.warehouses.load(level.warehouseId))!,
    available: (level) => availableUnits(level),
    updatedAt: (level) => level.updatedAt.toISOString(),
  },
  Query: {
    warehouses: (_root, _args, { inventory, viewer }) => inventory.listWarehouses(viewer),
  },
  Mutation: {
    setStock: (_root, { input }, { inventory, viewer, loaders }) => inventory.setStock(viewer, input, loaders),
  },
  Subscription: {
    stockChanged: {
      subscribe: (_root, { productId }, { inventory }) => inventory.watchStock(productId),
      resolve: (product: ProductModel) => product,
    },
  },
};
