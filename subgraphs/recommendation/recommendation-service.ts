import DataLoader from 'dataloader';
import { requireOwnerOrAdmin, type Viewer } from '../../platform/auth';
import type { EventEnvelope, EventType } from '../../platform/events';
import { loaderPer } from '../../platform/loaders';
import type { Logger } from '../../platform/logger';
import { pageSize } from '../../platform/pagination';
import type { OrderNote, RecommendationStore } from './store/port';

/** The consumer group recommendation's replicas share. */
export const RECOMMENDATION_CONSUMER_GROUP = 'recommendation';

/** The events recommendation learns purchases from. */
export const RECOMMENDATION_EVENT_TYPES = ['OrderPlaced', 'OrderConfirmed'] as const satisfies readonly EventType[];

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

/** Recommendation's rules: who may see whose suggestions, page sizes, and what a purchase is. */
export class RecommendationService {
  constructor(
    private readonly store: RecommendationStore,
    private readonly logger?: Logger,
  ) {}

  loaders(): RecommendationLoaders {
    return {
      boughtTogether: loaderPer(
        (limit) =>
          new DataLoader(
            async (productIds) => {
              const found = await this.store.boughtTogether(productIds, limit);
              return productIds.map((id) => found.get(id) ?? []);
            },
            { maxBatchSize: 1000 },
          ),
      ),
      forCustomer: loaderPer(
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

  /**
   * Learns from one order event: OrderPlaced tells who bought which products, OrderConfirmed
   * that the order counts; the purchase is recorded once both have arrived, in either order.
   * A redelivery changes nothing; an order never confirmed never counts.
   */
  async handleEvent(event: EventEnvelope): Promise<void> {
    const note = noteOf(event);
    if (!note) return;
    const outcome = await this.store.noteOrderEvent(RECOMMENDATION_CONSUMER_GROUP, event.id, note);
    this.logger?.debug({ eventId: event.id, type: event.type, orderId: note.orderId, outcome }, 'recommendation event handled');
  }
}

/** What an event says about an order's purchase; null for events recommendation does not learn from. */
function noteOf(event: EventEnvelope): OrderNote | null {
  switch (event.type) {
    case 'OrderPlaced': {
      const { orderId, customerId, lines } = (event as EventEnvelope<'OrderPlaced'>).payload;
      return { kind: 'placed', orderId, customerId, productIds: lines.map((line) => line.productId) };
    }
    case 'OrderConfirmed':
      return { kind: 'confirmed', orderId: (event as EventEnvelope<'OrderConfirmed'>).payload.orderId };
    default:
      return null;
  }
}
