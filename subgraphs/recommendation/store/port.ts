import type { StoreHandle } from '../../../platform/server';
import type { Purchase } from '../co-purchases';

export type { Purchase } from '../co-purchases';

/** Where recommendation keeps order history as co-purchase weights. */
export interface RecommendationStore extends StoreHandle {
  /** Records one order atomically: co-purchase weights of every pair both ways, and the customer's products. */
  recordPurchase(customerId: string, productIds: readonly string[]): Promise<void>;
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
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
}
