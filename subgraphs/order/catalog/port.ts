import type { Money } from '../../../platform/money';

/** What the catalog says a product costs now, and what it is called. */
export interface CatalogPrice {
  price: Money;
  name: string;
}

/**
 * Port: the catalog's current prices. Carts and checkouts are priced from it on the
 * server, never from client input. Adapter: product-search over HTTP (`http.ts`).
 */
export interface ProductPrices {
  /**
   * Prices of products by id; unknown products are absent from the map. Throws
   * SUBGRAPH_UNAVAILABLE when the catalog does not answer.
   */
  pricesOf(productIds: readonly string[], context?: { requestId?: string }): Promise<Map<string, CatalogPrice>>;
}
