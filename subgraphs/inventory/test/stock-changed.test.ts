/**
 * `stockChanged` served by the inventory subgraph over graphql-ws: who may connect, what
 * each committed stock change delivers, and how subscriptions end.
 */
import { AccessTokens, generateTokenKeys } from '../../../platform/auth';
import { domainEvent } from '../../../platform/events';
import { stockTopic, type PubSub } from '../../../platform/pubsub';
import { liveClient, serveTestSubgraph, testDeps, type TestDeps } from '../../../platform/testing';
import { inventorySubgraph, openInventoryStore, type InventorySubgraph } from '../subgraph';
import type { StockStore } from '../store/port';

const WATCH = `subscription ($productId: ID!) { stockChanged(productId: $productId) { id availableQuantity inStock } }`;
const SET_STOCK = `mutation ($input: SetStockInput!) { setStock(input: $input) { onHand } }`;

describe('stockChanged on the inventory subgraph', () => {
  let deps: TestDeps;
  let store: StockStore;
  let pubsub: PubSub;
  let definition: InventorySubgraph;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let admin: string;
  const clients: ReturnType<typeof liveClient>[] = [];

  const connect = (params: Record<string, unknown> = {}, options: { lazy?: boolean } = {}) => {
    const client = liveClient(server.url, params, options);
    clients.push(client);
    return client;
  };

  /** Resolves once the subgraph holds `count` live subscriptions to the product's topic. */
  async function watchers(productId: string, count: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (pubsub.subscriberCount(stockTopic(productId)) !== count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} watchers of ${productId}, have ${pubsub.subscriberCount(stockTopic(productId))}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  beforeAll(async () => {
    // The relay is woken by each write; without a poll timer, statement counts are the test's own.
    deps = await testDeps('pglite', ['inventory'], { OUTBOX_POLL_MS: '3600000' });
    pubsub = await deps.pubsub();
    store = await openInventoryStore(deps);
    await store.importStock(
      [{ id: 'wh-1', code: 'AMS-1', name: 'Amsterdam', city: 'Amsterdam', country: 'NL' }],
      ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map((productId) => ({ productId, warehouseId: 'wh-1', onHand: 5 })),
    );
    definition = inventorySubgraph(store, { ...deps, sweepIntervalMs: 60_000 }, deps);
    server = await serveTestSubgraph(definition, deps);
    admin = await deps.bearer('admin-1', ['customer', 'admin']);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
  });

  afterAll(async () => {
    await server.stop();
    await deps.release();
  });

  it('delivers the new stock level to an anonymous watcher after an admin sets stock', async () => {
    const watch = connect().subscribe(WATCH, { productId: 'p1' });
    await watchers('p1', 1);
    const res = await server.query(SET_STOCK, { input: { productId: 'p1', warehouseId: 'wh-1', onHand: 9 } }, admin);
    expect(res.errors).toBeUndefined();
    expect(await watch.waitFor(1)).toEqual([{ data: { stockChanged: { id: 'p1', availableQuantity: 9, inStock: true } } }]);

    // Each event reads the level anew: no loader of the first event serves the second.
    await server.query(SET_STOCK, { input: { productId: 'p1', warehouseId: 'wh-1', onHand: 0 } }, admin);
    await watch.waitFor(2);
    expect(watch.payloads[1]).toEqual({ data: { stockChanged: { id: 'p1', availableQuantity: 0, inStock: false } } });
  });

  it('reads a change once for every watcher of one selection and viewer, each on its own connection', async () => {
    // What one watcher's read of a change costs, alone on its product.
    const alone = connect().subscribe(WATCH, { productId: 'p6' });
    await watchers('p6', 1);
    let before = store.statementCount();
    await pubsub.publish(stockTopic('p6'), { id: 'p6' });
    await alone.waitFor(1);
    const oneRead = store.statementCount() - before;
    expect(oneRead).toBeGreaterThan(0);

    const anonymous = Array.from({ length: 5 }, () => connect().subscribe(WATCH, { productId: 'p5' }));
    const signedIn = connect({ authorization: await deps.bearer('customer-2') }).subscribe(WATCH, { productId: 'p5' });
    await watchers('p5', 6);
    before = store.statementCount();
    await pubsub.publish(stockTopic('p5'), { id: 'p5' });
    for (const watch of [...anonymous, signedIn]) await watch.waitFor(1);
    // One read for the five anonymous watchers, one for the customer.
    expect(store.statementCount() - before).toBe(2 * oneRead);

    // Each change is read anew, however close together: no watcher sees an earlier read twice.
    await server.query(SET_STOCK, { input: { productId: 'p5', warehouseId: 'wh-1', onHand: 7 } }, admin);
    await server.query(SET_STOCK, { input: { productId: 'p5', warehouseId: 'wh-1', onHand: 8 } }, admin);
    for (const watch of [...anonymous, signedIn]) {
      await watch.waitFor(3);
      expect(watch.payloads.map((p) => p.data!.stockChanged.availableQuantity)).toEqual([5, 7, 8]);
    }
  });

  it('tells a watcher only about its own product', async () => {
    const other = connect().subscribe(WATCH, { productId: 'p2' });
    const mine = connect().subscribe(WATCH, { productId: 'p3' });
    await watchers('p2', 1);
    await watchers('p3', 1);
    await server.query(SET_STOCK, { input: { productId: 'p3', warehouseId: 'wh-1', onHand: 4 } }, admin);
    await mine.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(other.payloads).toEqual([]);
  });

  it('announces reservations, releases and shipments of orders after they commit', async () => {
    const watch = connect({ authorization: await deps.bearer('customer-1') }).subscribe(WATCH, { productId: 'p4' });
    await watchers('p4', 1);
    const reservations = definition.reservations!;
    const placed = (orderId: string, quantity: number) =>
      domainEvent('OrderPlaced', orderId, {
        orderId,
        customerId: 'customer-1',
        lines: [{ productId: 'p4', quantity, unitPrice: { amount: 500, currency: 'USD' } }],
        total: { amount: 500 * quantity, currency: 'USD' },
        paymentToken: 'tok_visa',
      });
    await reservations.handle(placed('order-1', 2));
    await watch.waitFor(1);
    expect(watch.payloads[0]!.data!.stockChanged.availableQuantity).toBe(3);
    await reservations.handle(domainEvent('OrderCancelled', 'order-1', { orderId: 'order-1' }));
    await watch.waitFor(2);
    expect(watch.payloads[1]!.data!.stockChanged.availableQuantity).toBe(5);
    await reservations.handle(placed('order-2', 1));
    await reservations.handle(domainEvent('OrderShipped', 'order-2', { orderId: 'order-2' }));
    await watch.waitFor(4);
    expect(watch.payloads.map((p) => p.data!.stockChanged.availableQuantity)).toEqual([3, 5, 4, 4]);
    // An event that changes no stock (a confirmation) announces nothing.
    await reservations.handle(domainEvent('OrderConfirmed', 'order-2', { orderId: 'order-2' }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(watch.payloads).toHaveLength(4);
  });

  it('refuses a connection whose token is not valid with 4403, and serves a valid one', async () => {
    const forged = connect({ authorization: 'Bearer not-a-token' });
    const refused = forged.subscribe(WATCH, { productId: 'p1' });
    await refused.ended();
    expect(refused.payloads).toEqual([]);
    expect(forged.closes).toEqual([4403]);

    const otherKeys = new AccessTokens(await generateTokenKeys(), { issuer: deps.config.JWT_ISSUER, ttlSeconds: 60 });
    const foreign = connect({ authorization: `Bearer ${(await otherKeys.issue('admin-1', ['admin'])).token}` });
    await foreign.subscribe(WATCH, { productId: 'p1' }).ended();
    expect(foreign.closes).toEqual([4403]);

    const customer = connect({ authorization: await deps.bearer('customer-1') });
    customer.subscribe(WATCH, { productId: 'p1' });
    await watchers('p1', 1);
    expect(customer.closes).toEqual([]);
  });

  it('unsubscribes from the topic when the client completes its subscription', async () => {
    const client = connect();
    const stop = client.client.subscribe({ query: WATCH, variables: { productId: 'p2' } }, { next: () => {}, error: () => {}, complete: () => {} });
    await watchers('p2', 1);
    stop();
    await watchers('p2', 0);
  });

  it('refuses queries over the WebSocket: they go over HTTP', async () => {
    const watch = connect().subscribe(`{ warehouses { id } }`);
    await watch.ended();
    const errors = watch.error ?? watch.payloads[0]?.errors;
    expect(JSON.stringify(errors)).toContain('BAD_REQUEST');
  });

  it('reports a bad subscription as errors without ending the connection', async () => {
    const client = connect({}, { lazy: false });
    const bad = client.subscribe(`subscription { stockChanged(productId: "p1") { nope } }`);
    await bad.ended();
    expect((bad.error as { extensions?: Record<string, unknown> }[])[0]!.extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED' });
    const unparsable = client.subscribe(`subscription {`);
    await unparsable.ended();
    expect((unparsable.error as { extensions?: Record<string, unknown> }[])[0]!.extensions).toEqual({ code: 'GRAPHQL_PARSE_FAILED' });
    expect(client.closes).toEqual([]);
  });
});

describe('stockChanged when the token expires or the subgraph stops', () => {
  let deps: TestDeps;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let store: StockStore;

  beforeAll(async () => {
    deps = await testDeps('pglite', ['inventory']);
    store = await openInventoryStore(deps);
    await store.importStock([{ id: 'wh-1', code: 'AMS-1', name: 'Amsterdam', city: 'Amsterdam', country: 'NL' }], [
      { productId: 'p1', warehouseId: 'wh-1', onHand: 5 },
    ]);
  });

  afterAll(async () => {
    await server?.stop();
    await deps.release();
  });

  it('ends the subscriptions of a connection with UNAUTHENTICATED when its token expires, then closes it with 4401', async () => {
    // Tokens that live two seconds (expiry has whole-second precision, so one lasts between one
    // and two), verified with the same keys as the subgraph's.
    const keys = await generateTokenKeys();
    const shortLived = new AccessTokens(keys, { issuer: deps.config.JWT_ISSUER, ttlSeconds: 2 });
    server = await serveTestSubgraph(inventorySubgraph(store, undefined, deps), { ...deps, tokens: shortLived });
    const client = liveClient(server.url, { authorization: `Bearer ${(await shortLived.issue('customer-1', ['customer'])).token}` }, { lazy: false });
    const watch = client.subscribe(WATCH, { productId: 'p1' });
    await watch.ended(5000);
    expect(watch.payloads).toEqual([{ data: null, errors: [expect.objectContaining({ extensions: { code: 'UNAUTHENTICATED' } })] }]);
    expect(watch.completed).toBe(true);
    const deadline = Date.now() + 2000;
    while (client.closes.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(client.closes).toEqual([4401]);
    await client.dispose();
    await server.stop();
  });

  it('completes open subscriptions and closes their sockets when the subgraph stops', async () => {
    server = await serveTestSubgraph(inventorySubgraph(store, undefined, deps), deps);
    const client = liveClient(server.url, {}, { lazy: false });
    const watch = client.subscribe(WATCH, { productId: 'p1' });
    const pubsub = await deps.pubsub();
    while (pubsub.subscriberCount(stockTopic('p1')) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await server.stop();
    await watch.ended();
    expect(watch.completed).toBe(true);
    expect(client.closes).toEqual([1001]);
    expect(pubsub.subscriberCount(stockTopic('p1'))).toBe(0);
    await client.dispose();
  });
});
