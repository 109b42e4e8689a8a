import type { StoreHandle } from '../../../platform/server';
import type { OrderStatus } from '../order-lifecycle';
import type { ShippingAddressRecord } from './schema';

export type { ShippingAddressRecord };

/** An order as stored; its lines are read separately. */
export interface OrderRecord {
  id: string;
  customerId: string;
  status: OrderStatus;
  /** ISO 4217 code every amount of the order is in. */
  currency: string;
  /** Sum of the lines in minor units. */
  totalAmount: number;
  shippingAddress: ShippingAddressRecord | null;
  placedAt: Date;
  /** When the order last changed status. */
  updatedAt: Date;
}

/** One line of an order as stored. */
export interface OrderLineRecord {
  orderId: string;
  /** 1-based position in the order. */
  lineNo: number;
  productId: string;
  quantity: number;
  /** Price of one unit in minor units of the order's currency. */
  unitPriceAmount: number;
}

/** An order to write with its lines; lines are numbered in the order given. */
export interface NewOrder extends Omit<OrderRecord, 'updatedAt'> {
  lines: readonly Omit<OrderLineRecord, 'orderId' | 'lineNo'>[];
}

/** Where the order subgraph keeps orders and their lines. */
export interface OrderStore extends StoreHandle {
  /** Orders by id, in one statement; unknown ids are absent. */
  ordersByIds(ids: readonly string[]): Promise<OrderRecord[]>;
  /** Lines of many orders in one statement, ordered by order id, then line number. */
  linesOfOrders(orderIds: readonly string[]): Promise<OrderLineRecord[]>;
  /**
   * The newest `first` orders of each customer (placed time, then id, descending), for many
   * customers in one statement; grouped by customer, newest first within each.
   */
  recentOrdersOfCustomers(customerIds: readonly string[], first: number): Promise<OrderRecord[]>;
  /** Writes orders and their lines all together or not at all (one transaction, batched statements). */
  insertOrders(orders: readonly NewOrder[]): Promise<void>;
  /**
   * Moves an order from `expected` to `next` only if it is still in `expected`; returns the
   * updated order, or null (and changes nothing) when its status moved on or it does not exist.
   */
  compareAndSetStatus(orderId: string, expected: OrderStatus, next: OrderStatus): Promise<OrderRecord | null>;
  /** Whether any order is stored (seeding writes only into an empty store). */
  hasOrders(): Promise<boolean>;
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
}
