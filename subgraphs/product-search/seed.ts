import type { DemoShop } from '../../platform/demo-shop-types';
import type { ProductSearchService } from './product-search-service';

/**
 * Writes the demo shop's categories, brands and products (with their ids) through
 * the service, in one chunked transaction. False, and nothing written, when the
 * catalog already has data.
 */
export function seedCatalog(service: ProductSearchService, shop: DemoShop): Promise<boolean> {
  return service.importCatalog({
    currency: shop.currency,
    categories: shop.categories,
    brands: shop.brands,
    products: shop.products,
  });
}
