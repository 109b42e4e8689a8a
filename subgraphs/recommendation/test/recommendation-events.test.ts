import { domainEvent, type EventEnvelope } from '../../../platform/events';
import { money } from '../../../platform/money';
import { RecommendationService } from '../recommendation-service';
import type { RecommendationStore } from '../store/port';
import { recommendationStores } from './stores';

const ALICE = 'c0000000-0000-4000-8000-00000000000a';
const BOB = 'c0000000-0000-4000-8000-00000000000b';

let orders = 0;
const nextOrderId = () => `order-${++orders}`;

function placed(orderId: string, customerId: string, productIds: string[]): EventEnvelope<'OrderPlaced'> {
  return domainEvent('OrderPlaced', orderId, {
    orderId,
    customerId,
    lines: productIds.map((productId) => ({ productId, quantity: 1, unitPrice: money(1000, 'USD') })),
    total: money(1000 * productIds.length, 'USD'),
    paymentToken: 'tok_visa',
  });
}

const confirmed = (orderId: string) => domainEvent('OrderConfirmed', orderId, { orderId });

describe.each(recommendationStores())('recommendation learns purchases from order events on %s', (name, open) => {
  let store: RecommendationStore;
  let release: () => Promise<void>;
  let service: RecommendationService;

  beforeAll(async () => {
    ({ store, release } = await open());
    service = new RecommendationService(store);
  });
  afterAll(async () => {
    await release?.();
  });

  /**
   * Whether `product` was bought with `counted` once: a reference order bought it once with
   * `reference` ('m' sorts before every `counted` used here), so a tie puts the reference first
   * and a purchase counted twice would put `counted` first.
   */
  async function countedOnce(product: string, counted: string): Promise<boolean> {
    await store.recordPurchase('reference-buyer', [product, 'm']);
    const together = (await store.boughtTogether([product], 2)).get(product);
    return together?.[0] === 'm' && together?.[1] === counted;
  }

  it('records nothing for an order that is placed but never confirmed, and ignores other events', async () => {
    const orderId = nextOrderId();
    await service.handleEvent(placed(orderId, BOB, ['never-a', 'never-b']));
    await service.handleEvent(domainEvent('OrderShipped', orderId, { orderId }));
    expect(await store.boughtTogether(['never-a'], 5)).toEqual(new Map());
    expect(await store.forCustomers([BOB], 5)).toEqual(new Map());
  });

  it('records a confirmed order once, however often each event is delivered', async () => {
    const orderId = nextOrderId();
    const place = placed(orderId, ALICE, ['a1', 'z1']);
    const confirm = confirmed(orderId);
    for (const event of [place, place, confirm, confirm, place]) await service.handleEvent(event);
    expect(await countedOnce('a1', 'z1')).toBe(true);
    expect((await store.forCustomers([ALICE], 5)).has(ALICE)).toBe(true);
  });

  it('records it once when OrderConfirmed arrives before OrderPlaced', async () => {
    const orderId = nextOrderId();
    const place = placed(orderId, ALICE, ['a2', 'z2']);
    const confirm = confirmed(orderId);
    for (const event of [confirm, confirm, place, place]) await service.handleEvent(event);
    expect(await countedOnce('a2', 'z2')).toBe(true);
  });

  it('records it once when both events and their redeliveries are handled at the same time', async () => {
    const orderId = nextOrderId();
    const place = placed(orderId, ALICE, ['a3', 'z3']);
    const confirm = confirmed(orderId);
    await Promise.all([place, confirm, place, confirm, place, confirm].map((event) => service.handleEvent(event)));
    expect(await countedOnce('a3', 'z3')).toBe(true);
  });

  it('handles each event and each redelivery in one statement and no transaction, in either order', async () => {
    const roundTripsOf = async (event: EventEnvelope) => {
      const statements = store.statementCount();
      const transactions = store.transactionCount();
      await service.handleEvent(event);
      return { statements: store.statementCount() - statements, transactions: store.transactionCount() - transactions };
    };
    const one = { statements: 1, transactions: 0 };
    const placedFirst = nextOrderId();
    const confirmedFirst = nextOrderId();
    for (const event of [
      placed(placedFirst, BOB, ['trip-a', 'trip-b', 'trip-a', 'trip-c']),
      confirmed(placedFirst),
      confirmed(confirmedFirst),
      placed(confirmedFirst, BOB, ['trip-d']),
    ]) {
      expect(await roundTripsOf(event)).toEqual(one);
      expect(await roundTripsOf(event)).toEqual(one);
    }
    const together = await store.boughtTogether(['trip-a', 'trip-c', 'trip-d'], 5);
    expect(Object.fromEntries(together)).toEqual({ 'trip-a': ['trip-b', 'trip-c'], 'trip-c': ['trip-a', 'trip-b'] });
    // The order of trip-d alone counts as bought: it is among the best sellers, though bought with nothing.
    expect(await store.bestSellers(100)).toContain('trip-d');
  });

  it('notes the events of several orders handled at once together, each order and each message once', async () => {
    const [x, y, z] = [nextOrderId(), nextOrderId(), nextOrderId()];
    const events = { x: placed(x, ALICE, ['batch-a', 'batch-b']), y: placed(y, BOB, ['batch-a', 'batch-b']), z: placed(z, BOB, ['batch-a', 'batch-c']) };
    const note = (event: EventEnvelope<'OrderPlaced'>) =>
      store.noteOrderEvent('recommendation', event.id, {
        kind: 'placed',
        orderId: event.payload.orderId,
        customerId: event.payload.customerId,
        productIds: event.payload.lines.map((line) => line.productId),
      });
    const confirm = (orderId: string) => {
      const event = confirmed(orderId);
      return store.noteOrderEvent('recommendation', event.id, { kind: 'confirmed', orderId });
    };
    let before = store.statementCount();
    // x's OrderPlaced delivered twice at once: its order's row is touched by one statement at a time.
    expect(await Promise.all([note(events.x), note(events.y), note(events.z), note(events.x)])).toEqual(['noted', 'noted', 'noted', 'duplicate']);
    if (name !== 'redis') expect(store.statementCount() - before).toBe(2);
    before = store.statementCount();
    expect(await Promise.all([confirm(x), confirm(y), confirm(z)])).toEqual(['recorded', 'recorded', 'recorded']);
    if (name !== 'redis') expect(store.statementCount() - before).toBe(1);
    expect((await store.boughtTogether(['batch-c'], 5)).get('batch-c')).toEqual(['batch-a']);
    // batch-a was bought with batch-b twice (x and y) and with batch-c once (z): a reference bought
    // with it once ranks between them, and twice ties batch-b, then first by id.
    await store.recordPurchase('reference-buyer', ['batch-a', 'batch-0']);
    expect((await store.boughtTogether(['batch-a'], 5)).get('batch-a')).toEqual(['batch-b', 'batch-0', 'batch-c']);
    await store.recordPurchase('reference-buyer', ['batch-a', 'batch-0']);
    expect((await store.boughtTogether(['batch-a'], 5)).get('batch-a')).toEqual(['batch-0', 'batch-b', 'batch-c']);
  });

  it('counts two confirmed orders of the same products twice', async () => {
    for (let n = 0; n < 2; n++) {
      const orderId = nextOrderId();
      await service.handleEvent(placed(orderId, BOB, ['a4', 'z4']));
      await service.handleEvent(confirmed(orderId));
    }
    expect(await countedOnce('a4', 'z4')).toBe(false);
  });
});
