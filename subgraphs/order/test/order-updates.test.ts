/**
 * `orderUpdated`: the lifecycle order messages are ranked by, a watcher never seeing an
 * older status after a newer one, and the subscription served by the order subgraph over
 * graphql-ws with its access rules.
 */
import { randomUUID } from 'node:crypto';
import { silentLogger } from '../../../platform/logger';
import { InProcessPubSub, orderTopic } from '../../../platform/pubsub';
import { liveClient, serveTestSubgraph, testDeps, type TestDeps } from '../../../platform/testing';
import { LIFECYCLE_STEPS, ORDER_LIFECYCLE, ORDER_STATUSES, type OrderStatus } from '../order-lifecycle';
import { orderUpdatedMessage, watchOrderUpdates } from '../order-watch';
import type { OrderRecord, OrderStore } from '../store/port';
import { openOrderStore, orderSubgraph } from '../subgraph';

describe('lifecycle steps', () => {
  it('puts every transition’s target later than its source', () => {
    for (const from of ORDER_STATUSES) {
      for (const to of Object.values(ORDER_LIFECYCLE[from])) expect({ from, to, later: LIFECYCLE_STEPS[to] > LIFECYCLE_STEPS[from] }).toEqual({ from, to, later: true });
    }
  });

  it('ranks the happy path in order', () => {
    const path: OrderStatus[] = ['PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'REFUNDED'];
    expect(path.map((s) => LIFECYCLE_STEPS[s])).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('watchOrderUpdates', () => {
  const record = (status: OrderStatus): OrderRecord => ({
    id: 'o-1',
    customerId: 'c-1',
    status,
    currency: 'USD',
    totalAmount: 100,
    shippingAddress: null,
    failureReason: null,
    placedAt: new Date('2030-01-01T00:00:00Z'),
    updatedAt: new Date('2030-01-01T00:00:00Z'),
  });

  it('starts with the order as it stands, sends the order each message carries, and skips what is not later', async () => {
    const pubsub = new InProcessPubSub(silentLogger());
    const reads: OrderStatus[] = [];
    const watch = watchOrderUpdates(pubsub.subscribe(orderTopic('o-1')), record('CONFIRMED'), async () => {
      reads.push('CONFIRMED');
      return record('CONFIRMED');
    });
    expect((await watch.next()).value.status).toBe('CONFIRMED');

    const publish = (status: OrderStatus) => pubsub.publish(orderTopic('o-1'), orderUpdatedMessage({ ...record(status), totalAmount: 250 }));
    // A late PENDING and a repeated CONFIRMED are dropped; each later one is sent as it committed, without reading the store.
    await publish('PENDING');
    await publish('CONFIRMED');
    await publish('SHIPPED');
    const shipped = (await watch.next()).value;
    expect(shipped).toEqual({ ...record('SHIPPED'), totalAmount: 250 });
    expect(shipped.placedAt).toBeInstanceOf(Date);
    await publish('DELIVERED');
    expect((await watch.next()).value.status).toBe('DELIVERED');
    expect(reads).toEqual([]);
    const pending = watch.next();
    await watch.return();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(pubsub.subscriberCount(orderTopic('o-1'))).toBe(0);
    await pubsub.close();
  });

  it('reads back the order of a message that carries only its status, and skips what the store shows is not later', async () => {
    const pubsub = new InProcessPubSub(silentLogger());
    let stored = record('CONFIRMED');
    const reads: OrderStatus[] = [];
    const watch = watchOrderUpdates(pubsub.subscribe(orderTopic('o-1')), stored, async () => {
      reads.push(stored.status);
      return stored;
    });
    expect((await watch.next()).value.status).toBe('CONFIRMED');

    // As a service that publishes only the status sends it.
    const publish = (status: OrderStatus) => {
      const { order: _order, ...bare } = orderUpdatedMessage(record(status));
      return pubsub.publish(orderTopic('o-1'), bare);
    };
    // A late PENDING and a repeated CONFIRMED are dropped without reading the store.
    await publish('PENDING');
    await publish('CONFIRMED');
    stored = record('SHIPPED');
    await publish('SHIPPED');
    expect((await watch.next()).value.status).toBe('SHIPPED');
    expect(reads).toEqual(['SHIPPED']);

    // The store already moved past the message: the newer status is sent, and its own message later is not repeated.
    stored = record('REFUNDED');
    await publish('DELIVERED');
    await publish('REFUNDED');
    await publish('not-a-status' as OrderStatus);
    expect((await watch.next()).value.status).toBe('REFUNDED');
    const pending = watch.next();
    await watch.return();
    expect(await pending).toEqual({ value: undefined, done: true });
    await pubsub.close();
  });
});

const WATCH = `subscription ($orderId: ID!) { orderUpdated(orderId: $orderId) { id status total { amount } } }`;

describe('orderUpdated on the order subgraph', () => {
  let deps: TestDeps;
  let store: OrderStore;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  const alice = randomUUID();
  const bob = randomUUID();
  const clients: ReturnType<typeof liveClient>[] = [];
  let admin: string;

  const connect = async (customerId?: string, admin = false) => {
    const params = customerId ? { authorization: await deps.bearer(customerId, admin ? ['customer', 'admin'] : ['customer']) } : {};
    const client = liveClient(server.url, params);
    clients.push(client);
    return client;
  };

  async function newOrder(status: OrderStatus, customerId = alice): Promise<string> {
    const id = randomUUID();
    await store.insertOrders([
      { id, customerId, status, currency: 'USD', totalAmount: 500, placedAt: new Date(), shippingAddress: null, lines: [{ productId: 'p-1', quantity: 1, unitPriceAmount: 500 }] },
    ]);
    return id;
  }

  beforeAll(async () => {
    deps = await testDeps('pglite');
    store = await openOrderStore(deps);
    server = await serveTestSubgraph({ ...orderSubgraph(store, deps), workers: [] }, deps);
    admin = await deps.bearer(randomUUID(), ['customer', 'admin']);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
  });

  afterAll(async () => {
    await server.stop();
    await deps.release();
  });

  it('sends the order to its customer as it stands, then after each status change', async () => {
    const orderId = await newOrder('CONFIRMED');
    const watch = (await connect(alice)).subscribe(WATCH, { orderId });
    await watch.waitFor(1);
    for (const action of ['shipOrder', 'deliverOrder']) {
      const res = await server.query(`mutation ($id: ID!) { ${action}(id: $id) { status } }`, { id: orderId }, admin);
      expect(res.errors).toBeUndefined();
    }
    await watch.waitFor(3);
    expect(watch.payloads).toEqual(
      ['CONFIRMED', 'SHIPPED', 'DELIVERED'].map((status) => ({ data: { orderUpdated: { id: orderId, status, total: { amount: 500 } } } })),
    );
  });

  it('lets an admin watch any order', async () => {
    const orderId = await newOrder('PENDING');
    const watch = (await connect(randomUUID(), true)).subscribe(WATCH, { orderId });
    const [first] = await watch.waitFor(1);
    expect(first!.data!.orderUpdated.status).toBe('PENDING');
    const res = await server.query(`mutation ($id: ID!) { cancelOrder(id: $id) { status } }`, { id: orderId }, admin);
    expect(res.errors).toBeUndefined();
    await watch.waitFor(2);
    expect(watch.payloads[1]!.data!.orderUpdated.status).toBe('CANCELLED');
  });

  it('never sends an older status after a newer one, whatever arrives', async () => {
    const orderId = await newOrder('CONFIRMED');
    const watch = (await connect(alice)).subscribe(WATCH, { orderId });
    await watch.waitFor(1);
    await server.query(`mutation ($id: ID!) { shipOrder(id: $id) { status } }`, { id: orderId }, admin);
    await watch.waitFor(2);
    // A replica that lags behind announces a status the order has left.
    const pubsub = await deps.pubsub();
    await pubsub.publish(orderTopic(orderId), { id: orderId, status: 'CONFIRMED', updatedAt: new Date().toISOString(), step: 1 });
    await pubsub.publish(orderTopic(orderId), { id: orderId, status: 'PENDING', updatedAt: new Date().toISOString(), step: 0 });
    await server.query(`mutation ($id: ID!) { deliverOrder(id: $id) { status } }`, { id: orderId }, admin);
    await watch.waitFor(3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(watch.payloads.map((p) => p.data!.orderUpdated.status)).toEqual(['CONFIRMED', 'SHIPPED', 'DELIVERED']);
  });

  it('refuses another customer (FORBIDDEN), anonymous callers (UNAUTHENTICATED) and unknown orders (NOT_FOUND)', async () => {
    const orderId = await newOrder('PENDING');
    const codes = async (watch: ReturnType<Awaited<ReturnType<typeof connect>>['subscribe']>) => {
      await watch.ended();
      return [...(watch.payloads[0]?.errors ?? []), ...((watch.error as { extensions?: unknown }[] | undefined) ?? [])].map(
        (e) => (e.extensions as { code?: string } | undefined)?.code,
      );
    };
    expect(await codes((await connect(bob)).subscribe(WATCH, { orderId }))).toEqual(['FORBIDDEN']);
    expect(await codes((await connect()).subscribe(WATCH, { orderId }))).toEqual(['UNAUTHENTICATED']);
    expect(await codes((await connect(alice)).subscribe(WATCH, { orderId: randomUUID() }))).toEqual(['NOT_FOUND']);
    // A refused watcher leaves nothing subscribed behind.
    expect((await deps.pubsub()).subscriberCount(orderTopic(orderId))).toBe(0);
  });
});
