import type { RequestContext } from '../../platform/context';
import type { ProductSearchLoaders, ProductSearchService } from './product-search-service';

/** What product-search resolvers receive for one request. */
export interface ProductSearchContext extends RequestContext {
  productSearch: ProductSearchService;
  loaders: ProductSearchLoaders;
}
