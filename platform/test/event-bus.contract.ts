import { domainEvent, type EventBus, type EventEnvelope, type EventType } from '../events';
import { sleep, waitFor } from '../testing';

/** A broker that holds nothing from earlier tests. */
export interface EventBusBroker {
  /** A bus on this broker, as one process opens it. */
  open(): EventBus;
  /** Closes every bus it opened and removes what the test left behind. */
  release(): Promise<void>;
}

export interface EventBusAdapter {
  name: string;
  /** A fresh, empty broker for one test. */
  broker(): EventBusBroker;
  /**
   * Buses opened on one broker are replicas (separate processes): they share groups,
   * and what one leaves pending another takes over. Otherwise `open` returns one bus.
   */
  replicas: boolean;
  /** How long to wait to be sure no further delivery comes (several redelivery periods). */
  quietMs: number;
}



function event(type: EventType, n = 0): EventEnvelope {
  return domainEvent(type, `order-${n}`, { orderId: `order-${n}` } as never);
}

/** What every EventBus adapter must do; run against each available adapter. */
export function eventBusContract(adapter: EventBusAdapter) {
  let broker: EventBusBroker;
  beforeEach(() => {
    broker = adapter.broker();
  });
  afterEach(() => broker.release());

  it('delivers each event once to every group subscribed to its type, and no other type', async () => {
    const bus = broker.open();
    const seen: Record<string, string[]> = { inventory: [], payment: [], order: [] };
    bus.subscribe('inventory', ['OrderPlaced', 'OrderCancelled'], async (e) => void seen.inventory!.push(e.id));
    bus.subscribe('payment', ['OrderPlaced'], async (e) => void seen.payment!.push(e.id));
    bus.subscribe('order', ['PaymentAuthorized'], async (e) => void seen.order!.push(e.id));
    const placed = [1, 2, 3].map((n) => event('OrderPlaced', n));
    const cancelled = event('OrderCancelled', 1);
    await bus.publish([...placed, cancelled]);

    await waitFor('both groups to handle their events', () => seen.inventory!.length >= 4 && seen.payment!.length >= 3);
    await sleep(adapter.quietMs);
    expect([...seen.inventory!].sort()).toEqual([...placed, cancelled].map((e) => e.id).sort());
    expect([...seen.payment!].sort()).toEqual(placed.map((e) => e.id).sort());
    expect(seen.order).toEqual([]);
  });

  it('shares the events of one group among its subscribers: each event is handled by exactly one', async () => {
    const replicaA = broker.open();
    const replicaB = broker.open();
    const byA: string[] = [];
    const byB: string[] = [];
    const slowly = (into: string[]) => async (e: EventEnvelope) => {
      await sleep(30);
      into.push(e.id);
    };
    replicaA.subscribe('inventory', ['OrderPlaced'], slowly(byA));
    replicaB.subscribe('inventory', ['OrderPlaced'], slowly(byB));
    const events = Array.from({ length: 12 }, (_, n) => event('OrderPlaced', n));
    for (const e of events) {
      await replicaA.publish([e]);
      await sleep(15);
    }

    await waitFor('every event to be handled', () => byA.length + byB.length >= events.length);
    await sleep(adapter.quietMs);
    expect([...byA, ...byB].sort()).toEqual(events.map((e) => e.id).sort());
    expect(byA.length).toBeGreaterThan(0);
    expect(byB.length).toBeGreaterThan(0);
  });

  it("keeps the order of one order's events within each group", async () => {
    const bus = broker.open();
    // Three orders' events, interleaved; different orders' may be handled side by side.
    const events = Array.from({ length: 45 }, (_, n) => event('PaymentAuthorized', n % 3));
    const position = new Map(events.map((e, n) => [e.id, n]));
    const order: EventEnvelope[] = [];
    const payment: EventEnvelope[] = [];
    bus.subscribe('order', ['PaymentAuthorized'], async (e) => void order.push(e));
    bus.subscribe('payment', ['PaymentAuthorized'], async (e) => {
      // A slow handler must not let a later event of its order overtake.
      if (position.get(e.id)! % 5 === 0) await sleep(5);
      payment.push(e);
    });
    for (let i = 0; i < events.length; i += 15) await bus.publish(events.slice(i, i + 15));

    await waitFor('both groups to handle all events', () => order.length >= 45 && payment.length >= 45);
    const perOrder = (list: readonly EventEnvelope[]) => [0, 1, 2].map((n) => list.filter((e) => e.aggregateId === `order-${n}`).map((e) => e.id));
    expect(perOrder(order)).toEqual(perOrder(events));
    expect(perOrder(payment)).toEqual(perOrder(events));
    expect(order).toHaveLength(45);
    expect(payment).toHaveLength(45);
  });

  it('delivers again an event whose handler failed, until it succeeds', async () => {
    const bus = broker.open();
    const attempts: string[] = [];
    const handled: string[] = [];
    bus.subscribe(
      'payment',
      ['StockReserved'],
      async (e) => {
        attempts.push(e.id);
        if (attempts.length <= 2) throw new Error('provider unavailable');
        handled.push(e.id);
      },
      { maxDeliveries: 5 },
    );
    const reserved = event('StockReserved');
    await bus.publish([reserved]);

    await waitFor('the third delivery to succeed', () => handled.length === 1);
    await sleep(adapter.quietMs);
    expect(attempts).toEqual([reserved.id, reserved.id, reserved.id]);
    expect(handled).toEqual([reserved.id]);
    expect(await bus.deadLetters()).toEqual([]);
  });

  it('dead-letters an event after exactly maxDeliveries failed deliveries, and never delivers it again', async () => {
    const bus = broker.open();
    const poison = event('OrderShipped', 1);
    const fine = event('OrderShipped', 2);
    let poisonAttempts = 0;
    const handled: string[] = [];
    bus.subscribe(
      'inventory',
      ['OrderShipped'],
      async (e) => {
        if (e.id === poison.id) throw new Error(`cannot ship, attempt ${++poisonAttempts}`);
        handled.push(e.id);
      },
      { maxDeliveries: 3 },
    );
    await bus.publish([poison, fine]);

    await waitFor('the poison event to be dead-lettered', async () => (await bus.deadLetters()).length === 1);
    await sleep(adapter.quietMs);
    expect(poisonAttempts).toBe(3);
    expect(handled).toEqual([fine.id]);
    const [dead] = await bus.deadLetters();
    expect(dead).toEqual({ event: poison, group: 'inventory', deliveries: 3, lastError: 'cannot ship, attempt 3', deadAt: expect.any(String) });
    expect(Number.isNaN(Date.parse(dead!.deadAt))).toBe(false);
  });

  it('lists dead letters most recent first, up to the limit', async () => {
    const bus = broker.open();
    bus.subscribe('order', ['PaymentFailed'], async () => Promise.reject(new Error('no')), { maxDeliveries: 1 });
    const first = event('PaymentFailed', 1);
    const second = event('PaymentFailed', 2);
    await bus.publish([first, second]);

    await waitFor('both to be dead-lettered', async () => (await bus.deadLetters()).length === 2);
    expect((await bus.deadLetters()).map((d) => [d.event.id, d.deliveries])).toEqual([
      [second.id, 1],
      [first.id, 1],
    ]);
    expect((await bus.deadLetters(1)).map((d) => d.event.id)).toEqual([second.id]);
  });

  it('finishes a running handler before closing a subscription; then delivers nothing more to it', async () => {
    const bus = broker.open();
    const started: string[] = [];
    const finished: string[] = [];
    const subscription = bus.subscribe('payment', ['OrderRefunded'], async (e) => {
      started.push(e.id);
      await sleep(100);
      finished.push(e.id);
    });
    const before = event('OrderRefunded', 1);
    await bus.publish([before]);
    await waitFor('the handler to start', () => started.length === 1);

    await subscription.close();
    expect(finished).toEqual([before.id]);
    await subscription.close();
    await bus.publish([event('OrderRefunded', 2)]);
    await sleep(adapter.quietMs);
    expect(started).toEqual([before.id]);
    expect(await bus.ready()).toBe(true);
  });

  it('never dead-letters, on closing, an event that has deliveries left', async () => {
    const bus = broker.open();
    let attempts = 0;
    const subscription = bus.subscribe(
      'inventory',
      ['OrderRejected'],
      async () => {
        attempts += 1;
        if (attempts <= 3) throw new Error('database restarting');
      },
      { maxDeliveries: 5 },
    );
    await bus.publish([domainEvent('OrderRejected', 'order-1', { orderId: 'order-1', reason: 'OUT_OF_STOCK' })]);
    await waitFor('the first, failing delivery', () => attempts >= 1);

    await subscription.close();
    expect(await bus.deadLetters()).toEqual([]);
  });

  it('closing the bus is idempotent, stops delivery, and makes it unready', async () => {
    const bus = broker.open();
    const seen: string[] = [];
    bus.subscribe('order', ['OrderConfirmed'], async (e) => void seen.push(e.id));
    const before = event('OrderConfirmed', 1);
    await bus.publish([before]);
    await waitFor('the first event', () => seen.length === 1);
    expect(await bus.ready()).toBe(true);

    await Promise.all([bus.close(), bus.close()]);
    await bus.close();
    expect(await bus.ready()).toBe(false);
    await expect(bus.publish([event('OrderConfirmed', 2)])).rejects.toThrow(/closed/);
    expect(() => bus.subscribe('order', ['OrderConfirmed'], async () => {})).toThrow(/closed/);
    if (adapter.replicas) {
      // Another process keeps publishing: the closed bus's subscriber hears none of it.
      await broker.open().publish([event('OrderConfirmed', 3)]);
    }
    await sleep(adapter.quietMs);
    expect(seen).toEqual([before.id]);
  });

  if (adapter.replicas) {
    it("hands a dead consumer's unacknowledged events to another consumer of its group", async () => {
      const crashing = broker.open();
      const received: string[] = [];
      // Takes the event and never finishes: as if the process died mid-handler.
      crashing.subscribe('inventory', ['OrderPlaced'], (e) => {
        received.push(e.id);
        return new Promise(() => {});
      });
      const placed = event('OrderPlaced');
      await crashing.publish([placed]);
      await waitFor('the first consumer to take the event', () => received.length === 1);
      await crashing.close();

      const survivor = broker.open();
      const handled: string[] = [];
      survivor.subscribe('inventory', ['OrderPlaced'], async (e) => void handled.push(e.id));
      await waitFor('the survivor to take over the event', () => handled.length === 1);
      await sleep(adapter.quietMs);
      expect(handled).toEqual([placed.id]);
      expect(received).toEqual([placed.id]);
      expect(await survivor.deadLetters()).toEqual([]);
    });
  }
}
