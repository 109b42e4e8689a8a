import { domainEvent, type DomainEvents, type EventEnvelope, type EventType } from '../../../platform/events';
import type { OutboxRelay } from '../../../platform/outbox-relay';
import { storeBackends, testDeps, type TestDeps } from '../../../platform/testing';
import { ReservationService } from '../reservation-service';
import type { StockStore } from '../store/port';
import { openInventoryStore } from '../subgraph';

const TTL_SECONDS = 900;
const OUTGOING: EventType[] = ['StockReserved', 'StockReservationFailed', 'StockReservationExpired'];

describe.each(storeBackends())('stock reservation on %s', (backend) => {
  let deps: TestDeps;
  let store: StockStore;
  let relay: OutboxRelay;
  let reservations: ReservationService;
  let clock = new Date('2030-03-01T09:00:00Z');
  const announced: EventEnvelope[] = [];

  beforeAll(async () => {
    deps = await testDeps(backend, ['inventory']);
    store = await openInventoryStore(deps);
    await store.addWarehouses([
      { id: 'wh-1', code: 'AMS-1', name: 'Amsterdam', city: 'Amsterdam', country: 'NL' },
      { id: 'wh-2', code: 'BER-1', name: 'Berlin', city: 'Berlin', country: 'DE' },
    ]);
    // The relay is flushed by hand, so each test sees exactly what its handlers wrote.
    relay = store.outboxRelay({ bus: deps.events, logger: deps.logger, pollMs: 60_000 });
    (await deps.events()).subscribe('observer', OUTGOING, async (event) => {
      announced.push(event);
    });
    reservations = new ReservationService(store, { ttlSeconds: TTL_SECONDS, logger: deps.logger, now: () => clock });
  });

  afterAll(async () => {
    await store.close();
    await deps.release();
  });

  let orderSeq = 0;
  const newOrderId = (label: string) => `${backend}-${label}-${++orderSeq}`;

  const placed = (orderId: string, lines: [productId: string, quantity: number][], requestId?: string) =>
    domainEvent(
      'OrderPlaced',
      orderId,
      {
        orderId,
        customerId: 'customer-1',
        lines: lines.map(([productId, quantity]) => ({ productId, quantity, unitPrice: { amount: 500, currency: 'USD' } })),
        total: { amount: 500 * lines.reduce((n, [, q]) => n + q, 0), currency: 'USD' },
        paymentToken: 'tok_visa',
      },
      requestId,
    );
  const orderEvent = <T extends 'OrderConfirmed' | 'OrderCancelled' | 'OrderShipped'>(type: T, orderId: string) =>
    domainEvent(type, orderId, { orderId } as DomainEvents[T]);
  const rejected = (orderId: string, reason: DomainEvents['OrderRejected']['reason']) =>
    domainEvent('OrderRejected', orderId, { orderId, reason });
  const paymentFailed = (orderId: string) => domainEvent('OrderPaymentFailed', orderId, { orderId, reason: 'PAYMENT_DECLINED' });

  /** Stock of a product as [warehouse, onHand, reserved] rows. */
  const stockOf = async (productId: string) =>
    (await store.stockLevelsFor([productId])).map((l) => [l.warehouseId, l.onHand, l.reserved]);
  const reservationOf = async (orderId: string) => (await store.reservationsByOrderIds([orderId]))[0];

  let published = 0;
  /** What inventory announced about these orders, once its outbox is published and delivered. */
  async function announcedFor(...orderIds: string[]): Promise<EventEnvelope[]> {
    published += await relay.flush();
    for (let waited = 0; announced.length < published; waited += 5) {
      if (waited > 5000) throw new Error(`${published - announced.length} published events never arrived`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return announced.filter((e) => orderIds.includes(e.aggregateId));
  }

  it('reserves every line of a placed order, split over warehouses, and announces StockReserved with the expiry', async () => {
    await store.setOnHandMany([
      { productId: 'split', warehouseId: 'wh-1', onHand: 4 },
      { productId: 'split', warehouseId: 'wh-2', onHand: 3 },
      { productId: 'whole', warehouseId: 'wh-1', onHand: 1 },
      { productId: 'whole', warehouseId: 'wh-2', onHand: 8 },
    ]);
    const orderId = newOrderId('reserve');
    await reservations.handle(placed(orderId, [['split', 6], ['whole', 2]], 'req-42'));

    expect(await stockOf('split')).toEqual([
      ['wh-1', 4, 4],
      ['wh-2', 3, 2],
    ]);
    expect(await stockOf('whole')).toEqual([
      ['wh-1', 1, 0],
      ['wh-2', 8, 2],
    ]);
    const expiresAt = new Date(clock.getTime() + TTL_SECONDS * 1000);
    expect(await reservationOf(orderId)).toMatchObject({ status: 'RESERVED', expiresAt, confirmedAt: null });
    const events = await announcedFor(orderId);
    expect(events.map((e) => [e.type, e.payload, e.requestId])).toEqual([
      ['StockReserved', { orderId, expiresAt: expiresAt.toISOString() }, 'req-42'],
    ]);
  });

  /** Statements and transactions the store saw while `work` ran. */
  async function roundTripsOf(work: () => Promise<unknown>): Promise<{ statements: number; transactions: number }> {
    const statements = store.statementCount();
    const transactions = store.transactionCount();
    await work();
    return { statements: store.statementCount() - statements, transactions: store.transactionCount() - transactions };
  }

  it('reserves the orders handled side by side in one transaction of two statements, each seeing what the ones before it took', async () => {
    await store.setOnHandMany([
      { productId: 'side-a', warehouseId: 'wh-1', onHand: 3 },
      { productId: 'side-a', warehouseId: 'wh-2', onHand: 2 },
      { productId: 'side-b', warehouseId: 'wh-2', onHand: 4 },
    ]);
    const [first, second, third, earlier] = ['side-first', 'side-second', 'side-third', 'side-earlier'].map(newOrderId) as [string, string, string, string];
    const redelivered = placed(earlier, [['side-b', 1]]);
    await reservations.handle(redelivered);
    const trips = await roundTripsOf(() =>
      Promise.all([
        reservations.handle(placed(first, [['side-a', 3], ['side-b', 1]])),
        reservations.handle(placed(second, [['side-a', 2]])),
        // What is left after the two before it: nothing.
        reservations.handle(placed(third, [['side-a', 1]])),
        reservations.handle(redelivered),
      ]),
    );
    expect(trips).toEqual({ statements: 2, transactions: 1 });
    expect(await stockOf('side-a')).toEqual([
      ['wh-1', 3, 3],
      ['wh-2', 2, 2],
    ]);
    expect(await stockOf('side-b')).toEqual([['wh-2', 4, 2]]);
    expect((await reservationOf(first))?.lines).toEqual([
      { productId: 'side-a', warehouseId: 'wh-1', quantity: 3 },
      { productId: 'side-b', warehouseId: 'wh-2', quantity: 1 },
    ]);
    expect((await reservationOf(second))?.lines).toEqual([{ productId: 'side-a', warehouseId: 'wh-2', quantity: 2 }]);
    expect(await reservationOf(third)).toMatchObject({ status: 'RELEASED', lines: [] });
    expect((await announcedFor(first, second, third, earlier)).map((e) => [e.aggregateId, e.type])).toEqual([
      [earlier, 'StockReserved'],
      [first, 'StockReserved'],
      [second, 'StockReserved'],
      [third, 'StockReservationFailed'],
    ]);
  });

  it('fails only the order that cannot be reserved when orders are reserved together, and keeps nothing of it', async () => {
    await store.setOnHandMany([{ productId: 'alone', warehouseId: 'wh-1', onHand: 5 }]);
    const good = newOrderId('alone-good');
    const bad = newOrderId('alone-bad');
    const outcomes = await Promise.allSettled([
      reservations.handle(placed(good, [['alone', 2]])),
      // A quantity no order can have: allocation refuses it by throwing, and the event is delivered again.
      reservations.handle(placed(bad, [['alone', 0]])),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
    expect(await reservationOf(good)).toMatchObject({ status: 'RESERVED', lines: [{ productId: 'alone', warehouseId: 'wh-1', quantity: 2 }] });
    expect(await reservationOf(bad)).toBeUndefined();
    expect(await stockOf('alone')).toEqual([['wh-1', 5, 2]]);
    expect((await announcedFor(good, bad)).map((e) => [e.aggregateId, e.type])).toEqual([[good, 'StockReserved']]);
  });

  it('reserves an order in two statements of one transaction, refuses one likewise, and confirms it in one statement alone', async () => {
    await store.setOnHandMany([
      { productId: 'trips-a', warehouseId: 'wh-1', onHand: 2 },
      { productId: 'trips-a', warehouseId: 'wh-2', onHand: 2 },
      { productId: 'trips-b', warehouseId: 'wh-2', onHand: 5 },
    ]);
    const orderId = newOrderId('trips');
    // Two lines over three stock levels: the count does not grow with them.
    const place = placed(orderId, [['trips-a', 3], ['trips-b', 1]]);
    expect(await roundTripsOf(() => reservations.handle(place))).toEqual({ statements: 2, transactions: 1 });
    expect(await roundTripsOf(() => reservations.handle(place))).toEqual({ statements: 1, transactions: 1 });

    const confirm = orderEvent('OrderConfirmed', orderId);
    expect(await roundTripsOf(() => reservations.handle(confirm))).toEqual({ statements: 1, transactions: 0 });
    expect(await roundTripsOf(() => reservations.handle(confirm))).toEqual({ statements: 1, transactions: 0 });
    expect(await reservationOf(orderId)).toMatchObject({ status: 'RESERVED', confirmedAt: clock });

    const short = newOrderId('trips-short');
    expect(await roundTripsOf(() => reservations.handle(placed(short, [['trips-b', 9]])))).toEqual({ statements: 2, transactions: 1 });
    expect(await stockOf('trips-a')).toEqual([
      ['wh-1', 2, 2],
      ['wh-2', 2, 1],
    ]);
    expect(await stockOf('trips-b')).toEqual([['wh-2', 5, 1]]);
    expect((await announcedFor(orderId, short)).map((e) => [e.aggregateId, e.type])).toEqual([
      [orderId, 'StockReserved'],
      [short, 'StockReservationFailed'],
    ]);
  });

  it('reserves once and announces once when the same OrderPlaced is delivered twice, one after the other or at once', async () => {
    await store.setOnHandMany([{ productId: 'twice', warehouseId: 'wh-1', onHand: 10 }]);
    const first = newOrderId('twice');
    const event = placed(first, [['twice', 3]]);
    await reservations.handle(event);
    await reservations.handle(event);
    const second = newOrderId('twice');
    const concurrent = placed(second, [['twice', 2]]);
    await Promise.all([reservations.handle(concurrent), reservations.handle(concurrent)]);

    expect(await stockOf('twice')).toEqual([['wh-1', 10, 5]]);
    expect((await announcedFor(first, second)).map((e) => [e.aggregateId, e.type])).toEqual([
      [first, 'StockReserved'],
      [second, 'StockReserved'],
    ]);
  });

  it('changes nothing when one line is short, and announces StockReservationFailed listing the short lines', async () => {
    await store.setOnHandMany([
      { productId: 'plenty', warehouseId: 'wh-1', onHand: 50 },
      { productId: 'scarce', warehouseId: 'wh-1', onHand: 1 },
      { productId: 'scarce', warehouseId: 'wh-2', onHand: 1 },
    ]);
    const orderId = newOrderId('short');
    await reservations.handle(placed(orderId, [['plenty', 5], ['scarce', 3], ['unstocked', 1]]));

    expect(await stockOf('plenty')).toEqual([['wh-1', 50, 0]]);
    expect(await stockOf('scarce')).toEqual([
      ['wh-1', 1, 0],
      ['wh-2', 1, 0],
    ]);
    // Refused, not forgotten: the order's row says so, and holds nothing.
    expect(await reservationOf(orderId)).toMatchObject({ status: 'RELEASED', closedBeforePlaced: false, lines: [] });
    expect((await announcedFor(orderId)).map((e) => [e.type, e.payload])).toEqual([
      [
        'StockReservationFailed',
        {
          orderId,
          reason: 'OUT_OF_STOCK',
          unavailable: [
            { productId: 'scarce', requested: 3, available: 2 },
            { productId: 'unstocked', requested: 1, available: 0 },
          ],
        },
      ],
    ]);
    // The order is rejected next; that changes nothing either, and is not taken for an early closure.
    await reservations.handle(rejected(orderId, 'OUT_OF_STOCK'));
    expect(await stockOf('plenty')).toEqual([['wh-1', 50, 0]]);
    expect(await reservationOf(orderId)).toMatchObject({ status: 'RELEASED', closedBeforePlaced: false });
  });

  it('returns the stock when the order fails payment, is cancelled or is rejected; a second release changes nothing', async () => {
    await store.setOnHandMany([{ productId: 'release', warehouseId: 'wh-2', onHand: 9 }]);
    const releases: [string, (orderId: string) => EventEnvelope][] = [
      ['payment-failed', paymentFailed],
      ['cancelled', (id) => orderEvent('OrderCancelled', id)],
      ['rejected', (id) => rejected(id, 'OUT_OF_STOCK')],
    ];
    for (const [label, release] of releases) {
      const orderId = newOrderId(label);
      await reservations.handle(placed(orderId, [['release', 3]]));
      expect(await stockOf('release')).toEqual([['wh-2', 9, 3]]);
      await reservations.handle(release(orderId));
      expect(await stockOf('release')).toEqual([['wh-2', 9, 0]]);
      expect((await reservationOf(orderId))?.status).toBe('RELEASED');
      // Another release of the same order (a different event) changes nothing.
      await reservations.handle(orderEvent('OrderCancelled', orderId));
      expect(await stockOf('release')).toEqual([['wh-2', 9, 0]]);
    }
  });

  it('does not reserve an order whose cancellation arrived before its OrderPlaced, and announces nothing for it', async () => {
    await store.setOnHandMany([{ productId: 'early', warehouseId: 'wh-1', onHand: 4 }]);
    for (const close of [(id: string) => orderEvent('OrderCancelled', id), paymentFailed, (id: string) => rejected(id, 'OUT_OF_STOCK')]) {
      const orderId = newOrderId('early');
      await reservations.handle(close(orderId));
      await reservations.handle(placed(orderId, [['early', 2]]));
      expect(await stockOf('early')).toEqual([['wh-1', 4, 0]]);
      expect(await reservationOf(orderId)).toMatchObject({ status: 'RELEASED', closedBeforePlaced: true, lines: [] });
      expect(await announcedFor(orderId)).toEqual([]);
    }
  });

  it('moves reserved units out of on hand when the order ships; a later cancellation changes nothing', async () => {
    await store.setOnHandMany([
      { productId: 'ship', warehouseId: 'wh-1', onHand: 2 },
      { productId: 'ship', warehouseId: 'wh-2', onHand: 5 },
    ]);
    const orderId = newOrderId('ship');
    await reservations.handle(placed(orderId, [['ship', 6]]));
    await reservations.handle(orderEvent('OrderConfirmed', orderId));
    expect(await stockOf('ship')).toEqual([
      ['wh-1', 2, 1],
      ['wh-2', 5, 5],
    ]);
    const shipped = orderEvent('OrderShipped', orderId);
    await reservations.handle(shipped);
    await reservations.handle(shipped);
    expect(await stockOf('ship')).toEqual([
      ['wh-1', 1, 0],
      ['wh-2', 0, 0],
    ]);
    expect((await reservationOf(orderId))?.status).toBe('SHIPPED');
    await reservations.handle(orderEvent('OrderCancelled', orderId));
    expect(await stockOf('ship')).toEqual([
      ['wh-1', 1, 0],
      ['wh-2', 0, 0],
    ]);
  });

  it('expires unpaid reservations past their expiry: the stock returns and StockReservationExpired is announced', async () => {
    await store.setOnHandMany([{ productId: 'expire', warehouseId: 'wh-2', onHand: 10 }]);
    const unpaid = newOrderId('unpaid');
    const paid = newOrderId('paid');
    await reservations.handle(placed(unpaid, [['expire', 3]]));
    await reservations.handle(placed(paid, [['expire', 4]]));
    await reservations.handle(orderEvent('OrderConfirmed', paid));
    clock = new Date(clock.getTime() + 60_000);
    const young = newOrderId('young');
    await reservations.handle(placed(young, [['expire', 2]]));
    expect(await stockOf('expire')).toEqual([['wh-2', 10, 9]]);

    // Not due yet: nothing happens.
    clock = new Date(clock.getTime() + (TTL_SECONDS - 61) * 1000);
    await reservations.expireDue();
    expect(await stockOf('expire')).toEqual([['wh-2', 10, 9]]);

    // The unpaid one is due; the paid one never expires; the younger one is not due.
    clock = new Date(clock.getTime() + 1000);
    await reservations.expireDue();
    expect(await stockOf('expire')).toEqual([['wh-2', 10, 6]]);
    expect((await reservationOf(unpaid))?.status).toBe('EXPIRED');
    expect((await reservationOf(paid))?.status).toBe('RESERVED');
    expect((await reservationOf(young))?.status).toBe('RESERVED');
    expect((await announcedFor(unpaid, paid, young)).map((e) => [e.aggregateId, e.type])).toEqual([
      [unpaid, 'StockReserved'],
      [paid, 'StockReserved'],
      [young, 'StockReserved'],
      [unpaid, 'StockReservationExpired'],
    ]);

    // The order is rejected for the expiry; its stock was returned already.
    await reservations.handle(rejected(unpaid, 'RESERVATION_EXPIRED'));
    // A sweep with nothing due changes nothing.
    expect(await reservations.expireDue()).toBe(0);
    expect(await stockOf('expire')).toEqual([['wh-2', 10, 6]]);
    // An order confirmed after its reservation expired gets no stock back.
    await reservations.handle(orderEvent('OrderConfirmed', unpaid));
    expect((await reservationOf(unpaid))?.status).toBe('EXPIRED');
    expect(await stockOf('expire')).toEqual([['wh-2', 10, 6]]);
  });

  it('takes a shipped order out of stock though its reservation had expired, and refuses when those units were sold again', async () => {
    await store.setOnHandMany([{ productId: 'late-ship', warehouseId: 'wh-1', onHand: 5 }]);
    const shipped = newOrderId('late-ship');
    await reservations.handle(placed(shipped, [['late-ship', 2]]));
    // Paid, but the sweeper ran before inventory heard of it: the units went back on sale.
    clock = new Date(clock.getTime() + (TTL_SECONDS + 1) * 1000);
    await reservations.expireDue();
    expect(await stockOf('late-ship')).toEqual([['wh-1', 5, 0]]);
    await reservations.handle(orderEvent('OrderShipped', shipped));
    expect(await stockOf('late-ship')).toEqual([['wh-1', 3, 0]]);
    expect((await reservationOf(shipped))?.status).toBe('SHIPPED');

    // The same, but the three units left were reserved by others meanwhile: nothing is left to ship.
    const late = newOrderId('late-ship');
    await reservations.handle(placed(late, [['late-ship', 1]]));
    clock = new Date(clock.getTime() + (TTL_SECONDS + 1) * 1000);
    await reservations.expireDue();
    const other = newOrderId('late-ship');
    await reservations.handle(placed(other, [['late-ship', 3]]));
    expect(await stockOf('late-ship')).toEqual([['wh-1', 3, 3]]);
    await expect(reservations.handle(orderEvent('OrderShipped', late))).rejects.toThrow();
    expect(await stockOf('late-ship')).toEqual([['wh-1', 3, 3]]);
    expect((await reservationOf(late))?.status).toBe('EXPIRED');
  });

  it('expires in batches until nothing is due', async () => {
    await store.setOnHandMany([{ productId: 'batch', warehouseId: 'wh-1', onHand: 7 }]);
    const orders = Array.from({ length: 7 }, () => newOrderId('batch'));
    for (const orderId of orders) await reservations.handle(placed(orderId, [['batch', 1]]));
    clock = new Date(clock.getTime() + (TTL_SECONDS + 1) * 1000);
    await reservations.expireDue(3);
    expect(await stockOf('batch')).toEqual([['wh-1', 7, 0]]);
    const expired = (await announcedFor(...orders)).filter((e) => e.type === 'StockReservationExpired');
    expect(expired.map((e) => e.aggregateId).sort()).toEqual([...orders].sort());
  });

  it('throws on a malformed OrderPlaced without changing anything or marking it processed', async () => {
    await store.setOnHandMany([{ productId: 'poison', warehouseId: 'wh-1', onHand: 3 }]);
    const orderId = newOrderId('poison');
    const event = placed(orderId, [['poison', 0]]);
    await expect(reservations.handle(event)).rejects.toThrow(RangeError);
    await expect(reservations.handle(event)).rejects.toThrow(RangeError);
    expect(await reservationOf(orderId)).toBeUndefined();
    expect(await stockOf('poison')).toEqual([['wh-1', 3, 0]]);
    expect(await announcedFor(orderId)).toEqual([]);
  });

  const racers = backend === 'postgres' ? 30 : 8;

  it(`never oversells: ${racers} concurrent one-unit orders for 10 units reserve exactly 10`, async () => {
    await store.setOnHandMany([
      { productId: 'hot', warehouseId: 'wh-1', onHand: 6 },
      { productId: 'hot', warehouseId: 'wh-2', onHand: 4 },
    ]);
    const orders = Array.from({ length: racers }, () => newOrderId('hot'));
    // The database refuses reserved > on_hand on any level; what can go wrong is the count.
    await Promise.all(orders.map((orderId) => reservations.handle(placed(orderId, [['hot', 1]]))));

    const levels = await store.stockLevelsFor(['hot']);
    expect(levels.reduce((sum, l) => sum + l.reserved, 0)).toBe(Math.min(10, racers));
    const held = (await store.reservationsByOrderIds(orders)).filter((r) => r.status === 'RESERVED');
    expect(held.reduce((sum, r) => sum + r.lines.reduce((n, l) => n + l.quantity, 0), 0)).toBe(Math.min(10, racers));
    const events = await announcedFor(...orders);
    expect(events.filter((e) => e.type === 'StockReserved')).toHaveLength(Math.min(10, racers));
    const failed = events.filter((e) => e.type === 'StockReservationFailed');
    expect(failed).toHaveLength(Math.max(0, racers - 10));
    for (const e of failed) {
      expect((e.payload as DomainEvents['StockReservationFailed']).unavailable).toEqual([{ productId: 'hot', requested: 1, available: 0 }]);
    }
  });

  it('lets concurrent orders naming the same products in opposite orders finish without deadlock or overselling', async () => {
    await store.setOnHandMany([
      { productId: 'left', warehouseId: 'wh-1', onHand: 5 },
      { productId: 'right', warehouseId: 'wh-2', onHand: 5 },
    ]);
    const orders = Array.from({ length: racers }, () => newOrderId('cross'));
    await Promise.all(
      orders.map((orderId, i) =>
        reservations.handle(placed(orderId, i % 2 === 0 ? [['left', 1], ['right', 1]] : [['right', 1], ['left', 1]])),
      ),
    );
    expect(await stockOf('left')).toEqual([['wh-1', 5, Math.min(5, racers)]]);
    expect(await stockOf('right')).toEqual([['wh-2', 5, Math.min(5, racers)]]);
  });

  it('holds no stock for orders cancelled while they are being placed, whichever handler runs first', async () => {
    await store.setOnHandMany([{ productId: 'race', warehouseId: 'wh-1', onHand: 100 }]);
    const orders = Array.from({ length: racers }, () => newOrderId('race'));
    await Promise.all(
      orders.flatMap((orderId, i) => {
        const both = [reservations.handle(placed(orderId, [['race', 2]])), reservations.handle(orderEvent('OrderCancelled', orderId))];
        return i % 2 === 0 ? both : both.reverse();
      }),
    );
    expect(await stockOf('race')).toEqual([['wh-1', 100, 0]]);
    const states = await store.reservationsByOrderIds(orders);
    expect(states.map((r) => r.status)).toEqual(orders.map(() => 'RELEASED'));
  });

  it('returns each unit once when the sweeper and cancellations race for the same due reservations', async () => {
    await store.setOnHandMany([{ productId: 'sweep', warehouseId: 'wh-2', onHand: racers }]);
    const orders = Array.from({ length: racers }, () => newOrderId('sweep'));
    for (const orderId of orders) await reservations.handle(placed(orderId, [['sweep', 1]]));
    clock = new Date(clock.getTime() + (TTL_SECONDS + 1) * 1000);
    await Promise.all([
      reservations.expireDue(2),
      ...orders.map((orderId) => reservations.handle(orderEvent('OrderCancelled', orderId))),
      reservations.expireDue(2),
    ]);
    expect(await stockOf('sweep')).toEqual([['wh-2', racers, 0]]);
    const states = await store.reservationsByOrderIds(orders);
    const expired = states.filter((r) => r.status === 'EXPIRED').map((r) => r.orderId);
    expect(states.every((r) => r.status === 'EXPIRED' || r.status === 'RELEASED')).toBe(true);
    const announcedExpiry = (await announcedFor(...orders)).filter((e) => e.type === 'StockReservationExpired');
    expect(announcedExpiry.map((e) => e.aggregateId).sort()).toEqual(expired.sort());
  });

  if (backend === 'postgres') {
    it('skips a reservation another transaction holds instead of waiting for it', async () => {
      await store.setOnHandMany([{ productId: 'held', warehouseId: 'wh-1', onHand: 2 }]);
      const heldOrder = newOrderId('held');
      const freeOrder = newOrderId('free');
      await reservations.handle(placed(heldOrder, [['held', 1]]));
      await reservations.handle(placed(freeOrder, [['held', 1]]));
      clock = new Date(clock.getTime() + (TTL_SECONDS + 1) * 1000);

      let releaseLock!: () => void;
      let lockTaken!: () => void;
      const taken = new Promise<void>((resolve) => (lockTaken = resolve));
      const holder = store.transaction(async (tx) => {
        await tx.lockReservation(heldOrder);
        lockTaken();
        await new Promise<void>((resolve) => (releaseLock = resolve));
      });
      await taken;
      try {
        await reservations.expireDue();
        expect((await reservationOf(freeOrder))?.status).toBe('EXPIRED');
        expect((await reservationOf(heldOrder))?.status).toBe('RESERVED');
      } finally {
        releaseLock();
        await holder;
      }
      await reservations.expireDue();
      expect((await reservationOf(heldOrder))?.status).toBe('EXPIRED');
      expect(await stockOf('held')).toEqual([['wh-1', 2, 0]]);
    });
  }
});
