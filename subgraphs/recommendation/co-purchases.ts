/** What one order tells recommendations: who bought it and which products were in it. */
export interface Purchase {
  customerId: string;
  productIds: readonly string[];
}

/** How many orders held both products; stored both ways. */
export interface PairWeight {
  productId: string;
  otherProductId: string;
  weight: number;
}

/** How many of a customer's orders held a product. */
export interface CustomerProduct {
  customerId: string;
  productId: string;
  quantity: number;
}

export interface PurchaseTotals {
  pairs: PairWeight[];
  customerProducts: CustomerProduct[];
}

const byKey = <T>(map: Map<string, T>): T[] =>
  [...map.keys()].sort().map((key) => map.get(key)!);

/**
 * Adds up what many orders mean for recommendations: every ordered pair of distinct
 * products in an order gains 1 both ways, and the customer gains 1 on every product.
 * A product on two lines of one order counts once. The result is sorted by key so
 * that concurrent writers take row locks in one order and cannot deadlock, and has
 * each key once, as a single upsert statement requires.
 */
export function aggregatePurchases(purchases: readonly Purchase[]): PurchaseTotals {
  const pairs = new Map<string, PairWeight>();
  const customerProducts = new Map<string, CustomerProduct>();
  for (const { customerId, productIds } of purchases) {
    const products = [...new Set(productIds)];
    for (const productId of products) {
      const key = `${customerId}\u0000${productId}`;
      const bought = customerProducts.get(key);
      if (bought) bought.quantity += 1;
      else customerProducts.set(key, { customerId, productId, quantity: 1 });
      for (const otherProductId of products) {
        if (otherProductId === productId) continue;
        const pairKey = `${productId}\u0000${otherProductId}`;
        const pair = pairs.get(pairKey);
        if (pair) pair.weight += 1;
        else pairs.set(pairKey, { productId, otherProductId, weight: 1 });
      }
    }
  }
  return { pairs: byKey(pairs), customerProducts: byKey(customerProducts) };
}
