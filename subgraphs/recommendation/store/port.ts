import type { EventRetentionConfig } from '../../../platform/event-retention';
import type { Logger } from '../../../platform/logger';
import type { StoreHandle } from '../../../platform/server';
import type { Worker } from '../../../platform/subgraph';
import type { Purchase } from '../co-purchases';

export type { Purchase } from '../co-purchases';

/** What one event says about an order: who bought which products (OrderPlaced), or that it is confirmed. */
export type OrderNote =
  | { kind: 'placed'; orderId: string; customerId: string; productIds: readonly string[] }
  | { kind: 'confirmed'; orderId: string };

/** Where recommendation keeps order history as co-purchase weights. */
export interface RecommendationStore extends StoreHandle {
  /** Records one order atomically: co-purchase weights of every pair both ways, and the customer's products. */
  recordPurchase(customerId: string, productIds: readonly string[]): Promise<void>;
  /**
   * Handles one order event atomically: records `messageId` as processed by
   * `consumer` (a redelivery changes nothing: 'duplicate'), notes what the event says about
   * the order, and records its purchase once both OrderPlaced (who bought what) and
   * OrderConfirmed (it counts) have arrived, in either order ('recorded'); else 'noted'.
   */
  noteOrderEvent(consumer: string, messageId: string, note: OrderNote): Promise<'duplicate' | 'noted' | 'recorded'>;
  /** Records many orders in one transaction, in chunks (seeding, replays). */
  recordPurchases(purchases: readonly Purchase[]): Promise<void>;
  /**
   * For each product, up to `limit` products bought in the same orders, heaviest first,
   * ties by id; one statement for all products. Products without co-purchases are absent.
   */
  boughtTogether(productIds: readonly string[], limit: number): Promise<Map<string, string[]>>;
  /**
   * For each customer, up to `limit` products bought together with what they bought and
   * not bought by them, ranked by summed weight, ties by id; one statement for all
   * customers. Customers with no purchase history are absent; those with history but
   * nothing to recommend get an empty list.
   */
  forCustomers(customerIds: readonly string[], limit: number): Promise<Map<string, string[]>>;
  /** Up to `limit` products with the most units sold over all customers, ties by id; products sold alone count too. */
  bestSellers(limit: number): Promise<string[]>;
  /** Whether no purchase was ever recorded (seeding runs only then). */
  isEmpty(): Promise<boolean>;
  /**
   * The worker that deletes processed-message records and order notes once past their
   * retention, for a store whose records do not expire by themselves.
   */
  eventRetention?(config: EventRetentionConfig, logger: Logger): Worker;
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
  /** Transactions begun so far (a PostgreSQL BEGIN ... COMMIT, a Redis MULTI ... EXEC), besides their statements (tests, metrics). */
  transactionCount(): number;
}
