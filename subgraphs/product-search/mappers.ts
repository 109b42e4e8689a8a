/** How product-search's GraphQL types are backed, for the generated resolver types. */
export type {
  ProductRecord as ProductModel,
  CategoryRecord as CategoryModel,
  BrandRecord as BrandModel,
  FacetCount as CategoryFacetModel,
  FacetCount as BrandFacetModel,
} from './store/port';
export type { Money as MoneyModel } from '../../platform/money';
