import { money, moneyResolvers } from '../../platform/money';
import type { Resolvers } from './generated/resolvers-types';

/** Thin: read arguments and context, call the product-search service. */
export const resolvers: Resolvers = {
  Money: moneyResolvers.Money,
  Product: {
    __resolveReference: (ref, { productSearch, loaders }) => productSearch.product(ref.id, loaders),
    price: (product) => money(product.priceAmount, product.currency),
    category: (product, _args, { productSearch, loaders }) => productSearch.category(product.categoryId, loaders),
    brand: (product, _args, { productSearch, loaders }) => productSearch.brand(product.brandId, loaders),
    createdAt: (product) => product.createdAt.toISOString(),
    archived: (product) => product.archivedAt !== null,
    archivedAt: (product) => product.archivedAt?.toISOString() ?? null,
  },
  Category: {
    __resolveReference: (ref, { loaders }) => loaders.categories.load(ref.id),
  },
  Brand: {
    __resolveReference: (ref, { loaders }) => loaders.brands.load(ref.id),
  },
  CategoryFacet: {
    value: (facet, _args, { productSearch, loaders }) => productSearch.category(facet.id, loaders),
  },
  BrandFacet: {
    value: (facet, _args, { productSearch, loaders }) => productSearch.brand(facet.id, loaders),
  },
  Query: {
    product: (_root, { id }, { productSearch, loaders }) => productSearch.product(id, loaders),
    products: (_root, { ids }, { productSearch, loaders }) => productSearch.products(ids, loaders),
    categories: (_root, _args, { productSearch }) => productSearch.listCategories(),
    brands: (_root, _args, { productSearch }) => productSearch.listBrands(),
    searchProducts: (_root, args, { productSearch, loaders }) => productSearch.search(args, loaders),
    predictiveSearch: (_root, args, { productSearch, loaders }) => productSearch.predictiveSearch(args, loaders),
  },
  Mutation: {
    createProduct: (_root, { input }, { productSearch, viewer, loaders }) =>
      productSearch.createProduct(viewer, input, loaders),
    updateProduct: (_root, { id, input }, { productSearch, viewer, loaders }) =>
      productSearch.updateProduct(viewer, id, input, loaders),
    archiveProduct: (_root, { id }, { productSearch, viewer, loaders }) => productSearch.archiveProduct(viewer, id, loaders),
  },
};
