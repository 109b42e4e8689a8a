import DataLoader from 'dataloader';
import { requireOwnerOrAdmin, type Viewer } from '../../platform/auth';
import { badUserInput } from '../../platform/errors';
import { pageSize } from '../../platform/pagination';
import type { Purchase, RecommendationStore } from './store/port';

/** Products shown when a field's `first` is left out. */
export const DEFAULT_PRODUCT_RECOMMENDATIONS = 5;
export const DEFAULT_CUSTOMER_RECOMMENDATIONS = 10;

/**
 * This request's batched readers of recommendations, one loader per page size: products
 * (or customers) asked for with the same `first` share one store statement.
 */
export interface RecommendationLoaders {
  boughtTogether(limit: number): DataLoader<string, string[]>;
  forCustomer(limit: number): DataLoader<string, string[]>;
}

function perLimit(build: (limit: number) => DataLoader<string, string[]>) {
  const loaders = new Map<number, DataLoader<string, string[]>>();
  return (limit: number) => {
    let loader = loaders.get(limit);
    if (!loader) loaders.set(limit, (loader = build(limit)));
    return loader;
  };
}

/** Recommendation's rules: who may see whose suggestions, page sizes, and what a purchase is. */
export class RecommendationService {
  constructor(private readonly store: RecommendationStore) {}

  loaders(): RecommendationLoaders {
    return {
      boughtTogether: perLimit(
        (limit) =>
          new DataLoader(
            async (productIds) => {
              const found = await this.store.boughtTogether(productIds, limit);
              return productIds.map((id) => found.get(id) ?? []);
            },
            { maxBatchSize: 1000 },
          ),
      ),
      forCustomer: perLimit(
        (limit) =>
          new DataLoader(
            async (customerIds) => {
              const found = await this.store.forCustomers(customerIds, limit);
              // Customers without history get the best sellers, read once for the whole batch.
              const best = customerIds.some((id) => !found.has(id)) ? await this.store.bestSellers(limit) : [];
              return customerIds.map((id) => found.get(id) ?? best);
            },
            { maxBatchSize: 1000 },
          ),
      ),
    };
  }

  /** Ids of products bought together with `productId`, heaviest first; anyone may ask. */
  async productRecommendations(productId: string, first: number | null | undefined, loaders: RecommendationLoaders): Promise<string[]> {
    const limit = pageSize(first, DEFAULT_PRODUCT_RECOMMENDATIONS);
    return limit === 0 ? [] : loaders.boughtTogether(limit).load(productId);
  }

  /** Ids of products suggested to a customer; only that customer or an admin may ask. */
  async customerRecommendations(
    viewer: Viewer,
    customerId: string,
    first: number | null | undefined,
    loaders: RecommendationLoaders,
  ): Promise<string[]> {
    requireOwnerOrAdmin(viewer, customerId);
    const limit = pageSize(first, DEFAULT_CUSTOMER_RECOMMENDATIONS);
    return limit === 0 ? [] : loaders.forCustomer(limit).load(customerId);
  }

  /** Records placed orders; each must name a customer and products. */
  async recordPurchases(purchases: readonly Purchase[]): Promise<void> {
    for (const { customerId, productIds } of purchases) {
      if (!customerId.trim()) throw badUserInput('A purchase must name its customer.', { field: 'customerId' });
      if (productIds.some((id) => !id.trim())) throw badUserInput('A purchase must not name an empty product id.', { field: 'productIds' });
    }
    await this.store.recordPurchases(purchases);
  }

  /** Whether any order was ever recorded (the demo seed writes only into an empty store). */
  async hasHistory(): Promise<boolean> {
    return !(await this.store.isEmpty());
  }
}
