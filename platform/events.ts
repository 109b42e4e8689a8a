/**
 * Domain events between subgraphs: the envelope, the catalog of events the shop
 * publishes, and the `EventBus` port. Delivery is at least once; every consumer is
 * idempotent (see outbox.ts, `markProcessed`).
 */
import { randomUUID } from 'node:crypto';
import type { Money } from './money';

/** An event as it travels: `id` is unique per event and is what consumers deduplicate on. */
export interface EventEnvelope<T extends EventType = EventType> {
  id: string;
  type: T;
  /** The order (or other aggregate) the event is about; events of one aggregate keep their order. */
  aggregateId: string;
  /** ISO 8601. */
  occurredAt: string;
  payload: DomainEvents[T];
  /** The request that caused it, for logs across subgraphs. */
  requestId?: string;
}

export interface OrderLineItem {
  productId: string;
  quantity: number;
  unitPrice: Money;
}

/** Every event the shop publishes, by type, with its payload. */
export interface DomainEvents {
  /** order: a PENDING order awaits stock and payment. `paymentToken` is a processor token, never card data. */
  OrderPlaced: { orderId: string; customerId: string; lines: OrderLineItem[]; total: Money; paymentToken: string };
  /** inventory: every line is reserved, until `expiresAt` unless the order is paid. */
  StockReserved: { orderId: string; expiresAt: string };
  /** inventory: at least one line could not be reserved; nothing was reserved. */
  StockReservationFailed: { orderId: string; reason: 'OUT_OF_STOCK'; unavailable: { productId: string; requested: number; available: number }[] };
  /** inventory: a reservation of an unpaid order expired and its stock returned. */
  StockReservationExpired: { orderId: string };
  /** payment: the amount is authorized on the card. */
  PaymentAuthorized: { orderId: string; paymentId: string; amount: Money };
  /** payment: the processor declined, or kept failing. */
  PaymentFailed: { orderId: string; reason: 'PAYMENT_DECLINED' | 'PROCESSING_ERROR'; declineCode?: string };
  PaymentCaptured: { orderId: string; paymentId: string; amount: Money };
  PaymentVoided: { orderId: string; paymentId: string };
  PaymentRefunded: { orderId: string; paymentId: string; amount: Money };
  /** order: stock and payment agree; the order is CONFIRMED. */
  OrderConfirmed: { orderId: string };
  /** order: rejected for lack of stock; payment was never attempted. */
  OrderRejected: { orderId: string; reason: 'OUT_OF_STOCK' | 'RESERVATION_EXPIRED' };
  /** order: payment failed; inventory releases the reservation. */
  OrderPaymentFailed: { orderId: string; reason: 'PAYMENT_DECLINED' | 'PROCESSING_ERROR' };
  /** order: cancelled before shipment; inventory releases, payment voids. */
  OrderCancelled: { orderId: string };
  /** order: shipped; inventory turns reserved units into shipped ones, payment captures. */
  OrderShipped: { orderId: string };
  /** order: refunded after capture; payment refunds. */
  OrderRefunded: { orderId: string };
}

export type EventType = keyof DomainEvents;

// A record, so that adding an event type without listing it here does not compile.
const ALL_EVENT_TYPES: Record<EventType, true> = {
  OrderPlaced: true,
  StockReserved: true,
  StockReservationFailed: true,
  StockReservationExpired: true,
  PaymentAuthorized: true,
  PaymentFailed: true,
  PaymentCaptured: true,
  PaymentVoided: true,
  PaymentRefunded: true,
  OrderConfirmed: true,
  OrderRejected: true,
  OrderPaymentFailed: true,
  OrderCancelled: true,
  OrderShipped: true,
  OrderRefunded: true,
};

/** Every event type, for consumers that watch them all (audits, tests). */
export const EVENT_TYPES = Object.keys(ALL_EVENT_TYPES) as EventType[];

/** A new event with a fresh id. */
export function domainEvent<T extends EventType>(
  type: T,
  aggregateId: string,
  payload: DomainEvents[T],
  requestId?: string,
): EventEnvelope<T> {
  return {
    id: randomUUID(),
    type,
    aggregateId,
    occurredAt: new Date().toISOString(),
    payload,
    ...(requestId ? { requestId } : {}),
  };
}

/** Handles one delivery. Throwing means "not processed": the event is delivered again. */
export type EventHandler = (event: EventEnvelope) => Promise<void>;

export interface SubscribeOptions {
  /** Deliveries before an event goes to the dead-letter stream; default 5. */
  maxDeliveries?: number;
}

/** An event that kept failing, kept for an admin to inspect and replay. */
export interface DeadLetter {
  event: EventEnvelope;
  /** The consumer group that gave up on it. */
  group: string;
  deliveries: number;
  lastError: string;
  deadAt: string;
}

export interface Subscription {
  /** Stops receiving; in-flight handlers finish first. */
  close(): Promise<void>;
}

/**
 * Port: at-least-once delivery of domain events between subgraphs. Each consumer
 * group receives every event of the types it subscribes to; replicas of one
 * subgraph share a group, so each event is handled by one of them.
 * Adapters: in-process (embedded default), Redis Streams with consumer groups.
 */
export interface EventBus {
  /**
   * Whether a published event survives this process (Redis: yes; in-process: no). Relays
   * publish again, on start, what a non-durable bus may have lost in a crash.
   */
  readonly durable: boolean;
  publish(events: readonly EventEnvelope[]): Promise<void>;
  subscribe(group: string, types: readonly EventType[], handler: EventHandler, options?: SubscribeOptions): Subscription;
  /** Most recent dead letters first. */
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  ready(): Promise<boolean>;
  close(): Promise<void>;
}
