import type { Money } from '../../../platform/money';

/** What the catalog says a product costs now, what it is called, and whether it is still sold. */
export interface CatalogPrice {
  price: Money;
  name: string;
  /** The catalog archived the product: it is no longer sold, so no cart or order may take it. */
  archived: boolean;
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
