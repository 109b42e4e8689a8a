import type { Database } from '../../../platform/db';
import type { EventEnvelope } from '../../../platform/events';
import type { EventTables } from '../../../platform/outbox';
import type { StoreHandle } from '../../../platform/server';
import type { OrderFailureReason, OrderStatus } from '../order-lifecycle';
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
  /** Why the order ended unfulfilled; null unless it did. */
  failureReason: OrderFailureReason | null;
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
export interface NewOrder extends Omit<OrderRecord, 'updatedAt' | 'failureReason'> {
  failureReason?: OrderFailureReason | null;
  lines: readonly Omit<OrderLineRecord, 'orderId' | 'lineNo'>[];
}

/** One line of a customer's cart: a product and how many units, never a price. */
export interface CartLineRecord {
  customerId: string;
  productId: string;
  quantity: number;
  addedAt: Date;
}

/** The bounds a cart change must keep. */
export interface CartLimits {
  /** Most units of one product on a line. */
  maxQuantity: number;
  /** Most lines in one cart. */
  maxLines: number;
}

/** What came of a cart change; anything but `changed` left the cart as it was. */
export type CartChangeOutcome = 'changed' | 'too-many-units' | 'too-many-lines';

/** A cart change that was made, with the cart's lines after it, or the limit that refused it. */
export type CartChange =
  | { outcome: 'changed'; lines: CartLineRecord[] }
  | { outcome: Exclude<CartChangeOutcome, 'changed'> };

/** A checkout's record under its idempotency key. */
export interface IdempotencyRecord {
  customerId: string;
  key: string;
  requestHash: string;
  orderId: string;
}

/** Everything a checkout writes, together. */
export interface Placement {
  order: NewOrder;
  idempotencyKey: string;
  requestHash: string;
  /** The cart as it was priced; the order is placed only if the cart still holds exactly this. */
  cart: readonly { productId: string; quantity: number }[];
  /** Written to the outbox in the same transaction (OrderPlaced). */
  events: readonly EventEnvelope[];
}

/**
 * What came of a checkout: `placed` with the order as stored; `key-used` when the key already names an order
 * (nothing was written; that order's record is returned); `cart-changed` when the cart no
 * longer matches what was priced (nothing was written).
 */
export type PlacementOutcome =
  | { kind: 'placed'; order: OrderRecord }
  | { kind: 'key-used'; record: IdempotencyRecord }
  | { kind: 'cart-changed' };

/** A status change decided on an order read under lock. */
export interface OrderChange {
  next: OrderStatus;
  failureReason: OrderFailureReason | null;
  /** Written to the outbox in the same transaction. */
  events: readonly EventEnvelope[];
}

/** An event being consumed: recorded with the change, so a redelivery changes nothing. */
export interface ConsumedMessage {
  consumer: string;
  messageId: string;
}

/**
 * A saga event's effect on an order, whatever status it is in: each status in `moves` goes
 * to the status it names (others stay), `failureReason` is recorded when not null, and
 * `events` announce the change.
 */
export interface OrderEventRule {
  moves: Partial<Record<OrderStatus, OrderStatus>>;
  failureReason: OrderFailureReason | null;
  events: readonly EventEnvelope[];
}

/**
 * What came of `changeOrder` or `applyEvent`: `duplicate` when the message was processed
 * before (nothing happened); `unchanged` when nothing was to change; `changed` with the
 * order as now stored.
 */
export type OrderChangeOutcome =
  | { kind: 'duplicate' }
  | { kind: 'unchanged'; order: OrderRecord | null }
  | { kind: 'changed'; order: OrderRecord };

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
   * A shop action in one transaction: locks the order, asks `decide` what to do with it (null
   * when it does not exist), moves its status and failure reason as decided, and writes the
   * decision's events to the outbox. `decide` may throw to refuse; then nothing is written.
   * Concurrent changes of one order take turns, each deciding on the status the previous one
   * left. Two statements: the read, then the change and its events.
   */
  changeOrder(orderId: string, decide: (order: OrderRecord | null) => OrderChange | null): Promise<OrderChangeOutcome>;
  /**
   * Applies a consumed saga event in one statement: records `consumed` (if it was processed
   * before, nothing else happens) and, only then, moves the order by `rule` from the status
   * it has when its row is written, with the rule's events to the outbox. Concurrent changes
   * of one order take turns on its row, each moving it from the status the previous one
   * left. `unchanged` when the order is unknown or its status is not in the rule.
   */
  applyEvent(orderId: string, rule: OrderEventRule, consumed: ConsumedMessage): Promise<OrderChangeOutcome>;
  /** Lines of many customers' carts in one statement, by customer, then in the order first added. */
  cartLinesOf(customerIds: readonly string[]): Promise<CartLineRecord[]>;
  /**
   * Adds units of a product to a cart (a new line when it holds none), keeping every line
   * within `limits`; concurrent changes of one cart take turns. Answers the cart's lines after
   * the change (as `cartLinesOf` orders them), or which limit refused it. One statement unless
   * another change of the cart commits meanwhile.
   */
  addToCart(customerId: string, productId: string, quantity: number, limits: CartLimits): Promise<CartChange>;
  /** Sets the units of a product in a cart; 0 removes the line. Same limits, turns and answer as `addToCart`. */
  setCartLine(customerId: string, productId: string, quantity: number, limits: CartLimits): Promise<CartChange>;
  /** The checkout recorded under a customer's idempotency key, or null. */
  idempotencyRecord(customerId: string, key: string): Promise<IdempotencyRecord | null>;
  /**
   * Places an order atomically: locks the cart (so a concurrent checkout of the same customer,
   * and with it any with the same key, waits, then finds the key used or the cart emptied),
   * checks it still holds what was priced, claims the idempotency key, writes the order and
   * its lines, removes those lines from the cart and writes the events to the outbox. One
   * statement unless the cart or the key changed meanwhile.
   */
  placeOrder(placement: Placement): Promise<PlacementOutcome>;
  /** Where this store's outbox lives, for the relay that publishes it. */
  readonly outbox: { database: Database; tables: EventTables };
  /** Whether any order is stored (seeding writes only into an empty store). */
  hasOrders(): Promise<boolean>;
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
}
