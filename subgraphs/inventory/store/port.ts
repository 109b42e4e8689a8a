import type { EventRetentionConfig } from '../../../platform/event-retention';
import type { EventEnvelope } from '../../../platform/events';
import type { Logger } from '../../../platform/logger';
import type { OutboxRelay, OutboxRelayOptions } from '../../../platform/outbox-relay';
import type { StoreHandle } from '../../../platform/server';
import type { Worker } from '../../../platform/subgraph';

/** RESERVED holds stock; the others are final. */
export const RESERVATION_STATUSES = ['RESERVED', 'RELEASED', 'SHIPPED', 'EXPIRED'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

/** A warehouse as stored. */
export interface WarehouseRecord {
  id: string;
  code: string;
  name: string;
  city: string;
  country: string;
}

/** Units of one product in one warehouse. */
export interface StockLevelRecord {
  productId: string;
  warehouseId: string;
  onHand: number;
  reserved: number;
  updatedAt: Date;
}

/** Result of a stock count that the store refused because more units are promised than counted. */
export interface BelowReserved {
  kind: 'below-reserved';
  reserved: number;
}

/** Units of one product an order holds in one warehouse. */
export interface ReservationLine {
  productId: string;
  warehouseId: string;
  quantity: number;
}

/** What inventory holds for one order. */
export interface ReservationRecord {
  orderId: string;
  status: ReservationStatus;
  expiresAt: Date;
  /** Set when the order was paid (OrderConfirmed): the reservation no longer expires. */
  confirmedAt: Date | null;
  /** The order was closed before its OrderPlaced arrived: RELEASED, no lines, never reserved. */
  closedBeforePlaced: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** Ordered by product, then warehouse. */
  lines: ReservationLine[];
}

/** A stock level as reservations read it: units on hand and units promised. */
export type LockedStockLevel = Pick<StockLevelRecord, 'productId' | 'warehouseId' | 'onHand' | 'reserved'>;

/** One order to reserve, as its OrderPlaced message names it. */
export interface ReservationRequest {
  messageId: string;
  orderId: string;
  expiresAt: Date;
  /** The products its lines name (repeats allowed). */
  productIds: readonly string[];
}

/**
 * What opening reservations found, for each request in its order: the message handled before
 * ('duplicate'), the order already known ('known'), or a new reservation ('opened'); and the
 * locked levels of every product the requests name, by product then warehouse (none when no
 * request opened a reservation).
 */
export interface OpenedReservations {
  outcomes: ('duplicate' | 'known' | 'opened')[];
  levels: LockedStockLevel[];
}

/** A reservation opened in this transaction and the lines allocated to it. */
export interface FilledReservation {
  orderId: string;
  lines: readonly ReservationLine[];
}

/**
 * What confirming a reservation found: the message handled before, the reservation confirmed
 * now, or left as it was; then `status` is the reservation's latest (null when there is none),
 * and a RESERVED one was confirmed before.
 */
export type ConfirmOutcome =
  | { kind: 'duplicate' }
  | { kind: 'confirmed' }
  | { kind: 'unchanged'; status: ReservationStatus | null };

/**
 * One database transaction of inventory's event handling. Every call runs inside it;
 * it commits when the work resolves and rolls back, changing nothing, when it throws.
 * Stock rows are always locked in (product, warehouse) order, and an order's reservation
 * row before any stock row, so concurrent transactions cannot deadlock.
 */
export interface InventoryTransaction {
  /** Records that `consumer` handled `messageId`; false when it already had (skip the effect). */
  markProcessed(consumer: string, messageId: string): Promise<boolean>;
  /** Writes events to the outbox; the relay publishes them after commit. */
  enqueue(events: readonly EventEnvelope[]): Promise<void>;
  /**
   * The first step of reserving orders, in one statement for all of them: records each
   * request's message as handled by `consumer`, opens a RESERVED reservation without lines for
   * each message that is new, and locks every stock level of the products until commit, in
   * (product, warehouse) order, after the reservation rows. A request whose message was handled
   * before, or whose order already has a row (a reservation, or a closure that arrived first),
   * changes nothing. Waits for a concurrent transaction holding those orders or levels. The
   * requests name each order once.
   */
  openReservations(consumer: string, requests: readonly ReservationRequest[]): Promise<OpenedReservations>;
  /**
   * The second step, in one statement: fills the reservations this transaction opened and
   * allocated (their lines, their units added to `reserved` of the locked levels), closes
   * the ones it could not fill as RELEASED with no lines at `at`, and writes `events` to the
   * outbox.
   */
  fillReservations(filled: readonly FilledReservation[], refused: readonly string[], at: Date, events: readonly EventEnvelope[]): Promise<void>;
  /**
   * Records that an order was closed before inventory saw it placed: a RELEASED row
   * with no lines. False, changing nothing, when the order already has a row.
   */
  recordClosedBeforePlaced(orderId: string, at: Date): Promise<boolean>;
  /** The order's reservation with its lines, locked until commit; null when there is none. */
  lockReservation(orderId: string): Promise<ReservationRecord | null>;
  /**
   * Ends RESERVED reservations: RELEASED and EXPIRED give their units back (reserved -= q),
   * SHIPPED takes them out of the warehouse (on_hand -= q and reserved -= q). An EXPIRED
   * reservation can still be SHIPPED (on_hand -= q): its order was paid before inventory
   * heard, and the goods left; when its units were sold again meanwhile, the stock check
   * refuses it and the event is dead-lettered for someone to look at.
   */
  closeReservations(reservations: readonly ReservationRecord[], status: Exclude<ReservationStatus, 'RESERVED'>, at: Date): Promise<void>;
  /**
   * Up to `limit` RESERVED, unconfirmed reservations whose `expiresAt` is at or before
   * `now`, oldest first, with their lines, locked; rows another transaction holds are skipped.
   */
  claimExpired(now: Date, limit: number): Promise<ReservationRecord[]>;
}

/** Where inventory keeps warehouses, stock levels and reservations. */
export interface StockStore extends StoreHandle {
  /** Every warehouse, ordered by code. */
  listWarehouses(): Promise<WarehouseRecord[]>;
  /** Warehouses by id, in one query; unknown ids are absent. */
  warehousesByIds(ids: readonly string[]): Promise<WarehouseRecord[]>;
  /** Stock levels of many products in one query, ordered by product then warehouse. */
  stockLevelsFor(productIds: readonly string[]): Promise<StockLevelRecord[]>;
  /**
   * Sets the physical count atomically; refuses (and changes nothing) when the
   * new count is below the units already reserved.
   */
  setOnHand(productId: string, warehouseId: string, onHand: number): Promise<StockLevelRecord | BelowReserved>;
  /** Adds warehouses, ignoring ids that exist (seeding). */
  addWarehouses(warehouses: readonly WarehouseRecord[]): Promise<void>;
  /** Sets many counts in one statement (seeding, bulk imports); reserved stays as it is. */
  setOnHandMany(levels: readonly { productId: string; warehouseId: string; onHand: number }[]): Promise<void>;
  /** Adds warehouses and sets counts in one transaction (seeding, bulk imports). */
  importStock(
    warehouses: readonly WarehouseRecord[],
    levels: readonly { productId: string; warehouseId: string; onHand: number }[],
  ): Promise<void>;
  /** Runs `work` in one transaction (see InventoryTransaction). */
  transaction<T>(work: (tx: InventoryTransaction) => Promise<T>): Promise<T>;
  /**
   * Handles an order's payment in one statement and no transaction: records `messageId` as
   * handled by `consumer` and marks the order's RESERVED reservation paid, so it never
   * expires. Changes nothing when the message was handled before, the reservation is not
   * RESERVED, or it was confirmed already.
   */
  confirmReservation(consumer: string, messageId: string, orderId: string, at: Date): Promise<ConfirmOutcome>;
  /** Reservations of many orders with their lines, in one round of queries; unknown orders are absent. */
  reservationsByOrderIds(orderIds: readonly string[]): Promise<ReservationRecord[]>;
  /** The worker that publishes this store's outbox to the event bus. */
  outboxRelay(options: Omit<OutboxRelayOptions, 'database' | 'tables'>): OutboxRelay;
  /** The worker that deletes this store's published events and processed-message records once past their retention. */
  eventRetention(config: EventRetentionConfig, logger: Logger): Worker;
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
  /** Transactions begun so far, each a BEGIN and a COMMIT (or ROLLBACK) besides its statements (tests, metrics). */
  transactionCount(): number;
}
