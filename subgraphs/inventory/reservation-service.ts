import { domainEvent, type EventEnvelope, type EventType } from '../../platform/events';
import { coalesced } from '../../platform/coalesce';
import type { Logger } from '../../platform/logger';
import { allocate } from './allocate';
import { availableUnits } from './stock';
import type { FilledReservation, InventoryTransaction, StockStore } from './store/port';

/** Consumer group of inventory on the event bus; replicas share it. */
export const INVENTORY_CONSUMER_GROUP = 'inventory';

/** The order events inventory acts on. */
export const RESERVATION_EVENTS = [
  'OrderPlaced',
  'OrderConfirmed',
  'OrderPaymentFailed',
  'OrderCancelled',
  'OrderRejected',
  'OrderShipped',
] as const satisfies readonly EventType[];

/** Reservations the sweeper expires per transaction; default of `expireDue`. */
export const EXPIRY_BATCH = 100;

export interface ReservationServiceOptions {
  /** How long an unpaid order keeps its stock, in seconds (RESERVATION_TTL_SECONDS). */
  ttlSeconds: number;
  logger: Logger;
  /** The clock; default the system clock. */
  now?: () => Date;
  /** Called after a transaction that wrote events commits: the outbox relay's `notify`. */
  onEventsWritten?: () => void;
  /** Called after a transaction that changed stock commits, with the products it changed: live updates. */
  onStockChanged?: (productIds: readonly string[]) => Promise<void> | void;
}

/**
 * Inventory's part of the checkout saga: reserve an order's stock when it is placed,
 * give it back when the order fails or is cancelled, take it out of the warehouse when
 * it ships, and let unpaid reservations expire. Each delivery is one transaction (or, where
 * the whole effect is one statement, that statement alone; OrderPlaced deliveries handled
 * side by side share one) that records the event as processed, changes stock, and writes
 * the outgoing events, so a redelivery changes nothing and no event is announced for a
 * change that rolled back. A shared transaction that fails is tried again for each of its
 * deliveries alone, so one that cannot be handled fails only itself.
 *
 * Out-of-order arrival: a release event (cancelled, rejected, payment failed) for an
 * order inventory has not seen placed leaves a RELEASED row with no lines; the late
 * OrderPlaced then finds the order known and reserves nothing and announces nothing,
 * since the order is already closed and no one waits for its stock. Payment, which
 * authorizes on StockReserved, therefore never charges a closed order.
 */
export class ReservationService {
  private readonly now: () => Date;
  private readonly log: Logger;
  /** OrderPlaced events handled side by side, reserved together (`reserveAll`); two of one order never together. */
  private readonly reserve: (event: EventEnvelope<'OrderPlaced'>) => Promise<Reserved>;

  constructor(
    private readonly store: StockStore,
    private readonly options: ReservationServiceOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.log = options.logger.child({ component: 'reservations' });
    this.reserve = coalesced((events) => this.reserveAll(events), { key: (event) => event.payload.orderId });
  }

  /** Handles one delivery of an order event; throwing means it is delivered again. */
  async handle(event: EventEnvelope): Promise<void> {
    const changed = new Set<string>();
    const wroteEvents = await this.apply(event, changed);
    if (wroteEvents) this.options.onEventsWritten?.();
    await this.announce(changed);
  }

  /**
   * Releases every RESERVED, unconfirmed reservation past its expiry, `batch` per
   * transaction, announcing StockReservationExpired for each; resolves with how many.
   */
  async expireDue(batch = EXPIRY_BATCH): Promise<number> {
    let total = 0;
    for (;;) {
      const changed = new Set<string>();
      const expired = await this.store.transaction(async (tx) => {
        changed.clear();
        const now = this.now();
        const due = await tx.claimExpired(now, batch);
        if (due.length === 0) return 0;
        await tx.closeReservations(due, 'EXPIRED', now);
        await tx.enqueue(due.map((r) => domainEvent('StockReservationExpired', r.orderId, { orderId: r.orderId })));
        for (const reservation of due) productsOf(reservation.lines, changed);
        return due.length;
      });
      if (expired > 0) {
        this.options.onEventsWritten?.();
        await this.announce(changed);
        this.log.info({ expired }, 'unpaid reservations expired; their stock is available again');
      }
      total += expired;
      if (expired < batch) return total;
    }
  }

  /** Tells live subscribers which products changed; a failure there never fails the committed work. */
  private async announce(productIds: ReadonlySet<string>): Promise<void> {
    if (productIds.size === 0 || !this.options.onStockChanged) return;
    try {
      await this.options.onStockChanged([...productIds]);
    } catch (err) {
      this.log.warn({ err }, 'stock change not announced');
    }
  }

  /**
   * Applies one order event, recording it as processed in the same statement or transaction;
   * adds the products whose stock it changed to `changed`. Resolves with whether it wrote events.
   */
  private async apply(event: EventEnvelope, changed: Set<string>): Promise<boolean> {
    switch (event.type) {
      case 'OrderPlaced': {
        const reserved = await this.reserve(event as EventEnvelope<'OrderPlaced'>);
        for (const productId of reserved.changed) changed.add(productId);
        return reserved.wroteEvents;
      }
      case 'OrderConfirmed':
        await this.confirm(event as EventEnvelope<'OrderConfirmed'>);
        return false;
      default:
        await this.store.transaction(async (tx) => {
          // A retried transaction starts over: only what its final attempt changed is announced.
          changed.clear();
          if (!(await tx.markProcessed(INVENTORY_CONSUMER_GROUP, event.id))) return;
          switch (event.type) {
            case 'OrderPaymentFailed':
            case 'OrderCancelled':
            case 'OrderRejected':
              await this.release(tx, (event as EventEnvelope<'OrderCancelled'>).payload.orderId, event.type, changed);
              return;
            case 'OrderShipped':
              await this.ship(tx, (event as EventEnvelope<'OrderShipped'>).payload.orderId, changed);
              return;
          }
        });
        return false;
    }
  }

  /**
   * Reserves every line of each order or none of them, and announces each outcome: the
   * OrderPlaced events that a read of the bus hands its handlers side by side go in one
   * transaction of two statements, the stock rows locked from the first until commit.
   * Allocation runs in between, order after order on the levels the first statement locked,
   * each order seeing what the ones before it took. Answers, for each event, whether it wrote
   * events and the products whose stock it changed.
   */
  private async reserveAll(events: readonly EventEnvelope<'OrderPlaced'>[]): Promise<Reserved[]> {
    return this.store.transaction(async (tx) => {
      const expiresAt = new Date(this.now().getTime() + this.options.ttlSeconds * 1000);
      const opened = await tx.openReservations(
        INVENTORY_CONSUMER_GROUP,
        events.map((event) => ({
          messageId: event.id,
          orderId: event.payload.orderId,
          expiresAt,
          productIds: event.payload.lines.map((l) => l.productId),
        })),
      );
      const available = new Map(opened.levels.map((l) => [levelKey(l), availableUnits(l)]));
      const filled: FilledReservation[] = [];
      const refused: string[] = [];
      const announced: EventEnvelope[] = [];
      const answers = events.map((event, index): Reserved => {
        const { orderId, lines } = event.payload;
        const outcome = opened.outcomes[index];
        if (outcome === 'duplicate') return NOTHING_RESERVED;
        if (outcome === 'known') {
          this.log.info({ orderId }, 'order placed after inventory saw it closed (or reserved already); nothing reserved');
          return NOTHING_RESERVED;
        }
        const named = new Set(lines.map((l) => l.productId));
        const result = allocate(
          lines,
          opened.levels.filter((l) => named.has(l.productId)).map((l) => ({ productId: l.productId, warehouseId: l.warehouseId, available: available.get(levelKey(l))! })),
        );
        if (!result.ok) {
          // Closed, not deleted: the OrderRejected that follows finds it and changes nothing.
          refused.push(orderId);
          announced.push(domainEvent('StockReservationFailed', orderId, { orderId, reason: 'OUT_OF_STOCK', unavailable: result.unavailable }, event.requestId));
          return { wroteEvents: true, changed: [] };
        }
        for (const a of result.allocations) available.set(levelKey(a), available.get(levelKey(a))! - a.quantity);
        filled.push({ orderId, lines: result.allocations });
        announced.push(domainEvent('StockReserved', orderId, { orderId, expiresAt: expiresAt.toISOString() }, event.requestId));
        return { wroteEvents: true, changed: [...named] };
      });
      if (announced.length > 0) await tx.fillReservations(filled, refused, this.now(), announced);
      return answers;
    });
  }

  /** Gives the order's units back; records the closure when the order was never reserved. */
  private async release(tx: InventoryTransaction, orderId: string, cause: EventType, changed: Set<string>): Promise<void> {
    const at = this.now();
    if (await tx.recordClosedBeforePlaced(orderId, at)) {
      this.log.info({ orderId, cause }, 'order closed before inventory saw it placed; it will not be reserved');
      return;
    }
    const reservation = await tx.lockReservation(orderId);
    // Already released, expired (its stock returned then) or shipped: nothing is held.
    if (reservation?.status !== 'RESERVED') return;
    await tx.closeReservations([reservation], 'RELEASED', at);
    productsOf(reservation.lines, changed);
  }

  /** Reserved units leave the warehouse: on hand and reserved both drop. */
  private async ship(tx: InventoryTransaction, orderId: string, changed: Set<string>): Promise<void> {
    const reservation = await tx.lockReservation(orderId);
    if (reservation?.status !== 'RESERVED' && reservation?.status !== 'EXPIRED') {
      this.log.warn({ orderId, status: reservation?.status ?? null }, 'order shipped without a reservation; stock unchanged');
      return;
    }
    // Paid, then expired before inventory heard of the payment: the goods left all the same.
    if (reservation.status === 'EXPIRED') this.log.warn({ orderId }, 'order shipped after its reservation expired; its units leave on hand now');
    await tx.closeReservations([reservation], 'SHIPPED', this.now());
    productsOf(reservation.lines, changed);
  }

  /** The order is paid: its reservation no longer expires. One statement, no transaction. */
  private async confirm(event: EventEnvelope<'OrderConfirmed'>): Promise<void> {
    const { orderId } = event.payload;
    const outcome = await this.store.confirmReservation(INVENTORY_CONSUMER_GROUP, event.id, orderId, this.now());
    // Left RESERVED: it was confirmed already.
    if (outcome.kind !== 'unchanged' || outcome.status === 'RESERVED') return;
    this.log.warn(
      { orderId, status: outcome.status },
      'order confirmed but its reservation is no longer held; its stock may be sold to others',
    );
  }
}

/** What reserving one order did: whether it wrote events, and the products whose stock it changed. */
interface Reserved {
  wroteEvents: boolean;
  changed: readonly string[];
}

const NOTHING_RESERVED: Reserved = { wroteEvents: false, changed: [] };

function levelKey(level: { productId: string; warehouseId: string }): string {
  return `${level.productId}\u0000${level.warehouseId}`;
}

function productsOf(lines: readonly { productId: string }[], into: Set<string>): void {
  for (const line of lines) into.add(line.productId);
}
