import { composeServices } from '@apollo/composition';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { GraphQLError, parse } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { AccessTokens, generateTokenKeys } from '../../platform/auth';
import { silentLogger } from '../../platform/logger';
import { EndedSessions } from '../../platform/revocations';
import { liveClient, metricSample, waitFor } from '../../platform/testing';
import { AsyncQueue } from '../../platform/async-queue';
import { startService, type RunningService } from '../../platform/server';
import { originAllowed } from '../../platform/ws-server';
import { startRouter, type RouterOptions, type RunningRouter } from '../router';

/** Subgraph "things": owns Thing and publishes its changes from an in-memory topic. */
const thingsTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Thing @key(fields: "id") {
    id: ID!
    name: String!
  }
  type Query {
    thing(id: ID!): Thing
  }
  type Subscription {
    thingChanged(id: ID!): Thing!
  }
`);

/** Subgraph "prices": adds a price to Thing, resolved through `_entities` over HTTP. */
const pricesTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Thing @key(fields: "id") {
    id: ID!
    price: Int!
  }
`);

interface ThingEvent {
  id: string;
  name: string;
}

/** The things subgraph's subscribers; `publish` reaches those watching the thing's id. */
class ThingTopic {
  readonly subscribers = new Set<{ id: string; stream: AsyncQueue<ThingEvent> }>();
  subscribe(id: string): AsyncQueue<ThingEvent> {
    const entry = { id, stream: new AsyncQueue<ThingEvent>({ onEnd: () => this.subscribers.delete(entry) }) };
    this.subscribers.add(entry);
    return entry.stream;
  }
  publish(event: ThingEvent): void {
    for (const s of this.subscribers) if (s.id === event.id) s.stream.push(event);
  }
  watching(id: string): number {
    return [...this.subscribers].filter((s) => s.id === id).length;
  }
}


/** Everything one client subscription received. */
class Received {
  readonly payloads: { data?: any; errors?: any[] }[] = [];
  error: unknown;
  completed = false;
  readonly done: Promise<void>;
  private settle!: () => void;
  constructor() {
    this.done = new Promise((resolve) => (this.settle = resolve));
  }
  readonly sink = {
    next: (value: any) => void this.payloads.push(value),
    error: (error: unknown) => {
      this.error = error;
      this.settle();
    },
    complete: () => {
      this.completed = true;
      this.settle();
    },
  };
  waitFor(count: number): Promise<void> {
    return waitFor(`${count} payloads (have ${this.payloads.length})`, () => this.payloads.length >= count);
  }
}

const SUBSCRIPTION = `subscription Watch($id: ID!) { thingChanged(id: $id) { id name price } }`;

function subscribe(client: Client, id: string, query = SUBSCRIPTION): Received {
  const received = new Received();
  client.subscribe({ query, variables: { id } }, received.sink);
  return received;
}

/** Opens a raw WebSocket on the router (no graphql-ws client), optionally with an Origin. */
function rawSocket(url: string, origin?: string): WebSocket {
  return new WebSocket(url, 'graphql-transport-ws', origin ? { origin } : {});
}

function closeCode(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code) => resolve(code)));
}

describe('federated subscriptions through the router', () => {
  const logger = silentLogger();
  const topic = new ThingTopic();
  const prices = new Map<string, number>();
  const failingPrices = new Set<string>();
  const thingsConnectionParams: Record<string, unknown>[] = [];
  const pricesAuthorization: (string | undefined)[] = [];
  let things: RunningService;
  let thingsSockets: WebSocketServer;
  let pricesService: RunningService;
  let supergraphSdl: string;
  let router: RunningRouter;
  let tokens: AccessTokens;
  /** Signed by the router's keys; the things subgraph only looks at whether one was sent. */
  let ann: string;
  let bob: string;
  const clients: Client[] = [];

  const wsUrl = (r: RunningRouter) => r.url.replace(/^http/, 'ws');
  const client = (r: RunningRouter, authorization?: string): Client => {
    const c = createClient({
      url: wsUrl(r),
      webSocketImpl: WebSocket,
      connectionParams: authorization ? { authorization } : {},
      retryAttempts: 0,
    });
    clients.push(c);
    return c;
  };
  const start = (extra: Partial<RouterOptions> = {}) =>
    startRouter({
      supergraphSdl,
      subgraphUrls: { things: things.url, prices: pricesService.url },
      host: '127.0.0.1',
      port: 0,
      logger,
      tokens,
      maxBodyBytes: 1024 * 1024,
      graceMs: 2000,
      ...extra,
    });

  beforeAll(async () => {
    tokens = new AccessTokens(await generateTokenKeys(), { issuer: 'test-shop', ttlSeconds: 600 });
    ann = `Bearer ${(await tokens.issue('ann', ['customer'])).token}`;
    bob = `Bearer ${(await tokens.issue('bob', ['customer'])).token}`;
    const thingsSchema = buildSubgraphSchema([
      {
        typeDefs: thingsTypeDefs,
        resolvers: {
          Query: { thing: (_: unknown, { id }: { id: string }) => ({ id, name: `thing ${id}` }) },
          Subscription: {
            thingChanged: {
              subscribe: (_: unknown, { id }: { id: string }, ctx: { authorization?: unknown }) => {
                if (id === 'secret' && !ctx.authorization) throw new GraphQLError('Sign in to watch this thing.', { extensions: { code: 'UNAUTHENTICATED' } });
                return topic.subscribe(id);
              },
              resolve: (event: ThingEvent) => event,
            },
          },
        } as never,
      },
    ]);
    things = await startService({
      apollo: new ApolloServer({ schema: thingsSchema, plugins: [ApolloServerPluginInlineTraceDisabled()] }),
      logger,
      host: '127.0.0.1',
      port: 0,
      stores: [],
      maxBodyBytes: 1024 * 1024,
      graceMs: 1000,
      context: async () => ({}),
      onServer: (server) => {
        const wss = (thingsSockets = new WebSocketServer({ server, path: '/graphql' }));
        const disposable = useServer(
          {
            schema: thingsSchema,
            context: (ctx) => ({ authorization: ctx.connectionParams?.authorization }),
            onConnect: (ctx) => {
              thingsConnectionParams.push({ ...ctx.connectionParams });
              return true;
            },
          },
          wss,
        );
        return { close: async () => { await disposable.dispose(); } };
      },
    });

    pricesService = await startService<{ authorization?: string }>({
      apollo: new ApolloServer<{ authorization?: string }>({
        schema: buildSubgraphSchema([
          {
            typeDefs: pricesTypeDefs,
            resolvers: {
              Thing: {
                __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
                price: async ({ id }: { id: string }, _: unknown, ctx: { authorization?: string }) => {
                  pricesAuthorization.push(ctx.authorization);
                  // Uneven latency: a router that completed events concurrently would reorder them.
                  await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 15)));
                  if (failingPrices.has(id)) throw new GraphQLError('Prices are being recalculated.', { extensions: { code: 'SUBGRAPH_UNAVAILABLE' } });
                  return prices.get(id) ?? 0;
                },
              },
            } as never,
          },
        ]),
        plugins: [ApolloServerPluginInlineTraceDisabled()],
      }),
      logger,
      host: '127.0.0.1',
      port: 0,
      stores: [],
      maxBodyBytes: 1024 * 1024,
      graceMs: 1000,
      context: async (req) => ({ authorization: req.headers.authorization }),
    });

    const composed = composeServices([
      { name: 'things', url: things.url, typeDefs: thingsTypeDefs },
      { name: 'prices', url: pricesService.url, typeDefs: pricesTypeDefs },
    ]);
    expect(composed.errors).toBeUndefined();
    supergraphSdl = composed.supergraphSdl!;
    router = await start({ subscriptions: { maxSubscriptionsPerConnection: 3, allowedOrigins: ['https://shop.example'], initTimeoutMs: 300 } });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
  });

  afterAll(async () => {
    await router?.stop();
    await things?.stop();
    await pricesService?.stop();
  });

  it('delivers every event with fields from both subgraphs, in order, and forwards the token', async () => {
    prices.set('t1', 1250);
    const received = subscribe(client(router, ann), 't1');
    await waitFor('the things subgraph to see the subscription', () => topic.watching('t1') === 1);

    for (let i = 0; i < 20; i++) topic.publish({ id: 't1', name: `version ${i}` });
    await received.waitFor(20);

    expect(received.payloads).toEqual(
      Array.from({ length: 20 }, (_, i) => ({ data: { thingChanged: { id: 't1', name: `version ${i}`, price: 1250 } } })),
    );
    expect(thingsConnectionParams.at(-1)).toEqual({ authorization: ann, 'x-request-id': expect.any(String) });
    expect(pricesAuthorization.at(-1)).toBe(ann);
    expect(received.error).toBeUndefined();
  });

  it('sends an error in a secondary subgraph as errors on that payload and keeps the stream open', async () => {
    prices.set('t2', 990);
    const received = subscribe(client(router), 't2');
    await waitFor('the subscription', () => topic.watching('t2') === 1);

    topic.publish({ id: 't2', name: 'before' });
    await received.waitFor(1);
    failingPrices.add('t2');
    topic.publish({ id: 't2', name: 'during' });
    await received.waitFor(2);
    failingPrices.delete('t2');
    topic.publish({ id: 't2', name: 'after' });
    await received.waitFor(3);

    expect(received.payloads[0]).toEqual({ data: { thingChanged: { id: 't2', name: 'before', price: 990 } } });
    // price is non-null, so the failure nulls its parents up to the root, as in any GraphQL response.
    expect(received.payloads[1]!.data).toBeNull();
    expect(received.payloads[1]!.errors).toEqual([
      expect.objectContaining({ message: 'Prices are being recalculated.', path: ['thingChanged', 'price'], extensions: { code: 'SUBGRAPH_UNAVAILABLE' } }),
    ]);
    expect(received.payloads[2]).toEqual({ data: { thingChanged: { id: 't2', name: 'after', price: 990 } } });
    expect(received.completed).toBe(false);
    expect(received.error).toBeUndefined();
  });

  it('passes on the owning subgraph refusing a subscription, and ends it', async () => {
    const anonymous = subscribe(client(router), 'secret');
    await anonymous.done;
    expect(anonymous.payloads).toEqual([
      { data: null, errors: [expect.objectContaining({ message: 'Sign in to watch this thing.', extensions: { code: 'UNAUTHENTICATED' } })] },
    ]);
    expect(anonymous.completed).toBe(true);

    const signedIn = subscribe(client(router, bob), 'secret');
    await waitFor('the signed-in subscription', () => topic.watching('secret') === 1);
    expect(signedIn.payloads).toEqual([]);
  });

  it('ends the subscription with SUBGRAPH_UNAVAILABLE when the owning subgraph drops the connection', async () => {
    const received = subscribe(client(router), 'dropped');
    await waitFor('the subscription', () => topic.watching('dropped') === 1);
    topic.publish({ id: 'dropped', name: 'still here' });
    await received.waitFor(1);
    for (const socket of thingsSockets.clients) socket.terminate();
    await received.done;
    expect(received.payloads).toEqual([
      { data: { thingChanged: { id: 'dropped', name: 'still here', price: 0 } } },
      { data: null, errors: [{ message: 'The things service stopped sending events.', extensions: { code: 'SUBGRAPH_UNAVAILABLE' } }] },
    ]);
    expect(received.completed).toBe(true);
  });

  it('ends a subscription whose events arrive faster than they can be completed, and releases it upstream', async () => {
    prices.set('flood', 1);
    const received = subscribe(client(router), 'flood');
    await waitFor('the subscription', () => topic.watching('flood') === 1);
    // Each event waits on a prices fetch; 150 at once leave more than 100 waiting.
    for (let i = 0; i < 150; i++) topic.publish({ id: 'flood', name: `version ${i}` });
    await received.done;
    expect(received.completed).toBe(true);
    expect(received.payloads.length).toBeLessThan(150);
    expect(received.payloads.at(-1)).toEqual({
      data: null,
      errors: [{ message: 'Events arrived faster than they could be delivered; subscribe again.', extensions: { code: 'SUBGRAPH_UNAVAILABLE' } }],
    });
    // What was delivered before came in order.
    const names = received.payloads.slice(0, -1).map((p) => p.data.thingChanged.name);
    expect(names).toEqual(names.map((_, i) => `version ${i}`));
    await waitFor('the things subgraph to release the subscription', () => topic.watching('flood') === 0);
  });

  it('serves a subscription owned by one subgraph without other fetches', async () => {
    const received = subscribe(client(router), 't3', `subscription { thingChanged(id: "t3") { name } }`);
    await waitFor('the subscription', () => topic.watching('t3') === 1);
    const before = router.subgraphFetches.get('prices') ?? 0;
    topic.publish({ id: 't3', name: 'only a name' });
    await received.waitFor(1);
    expect(received.payloads).toEqual([{ data: { thingChanged: { name: 'only a name' } } }]);
    expect(router.subgraphFetches.get('prices') ?? 0).toBe(before);
  });

  it('completes an event once for subscribers of the same operation, variables and token, each on its own connection', async () => {
    prices.set('popular', 4200);
    const anonymous = Array.from({ length: 6 }, () => subscribe(client(router), 'popular'));
    const signedIn = [subscribe(client(router, ann), 'popular'), subscribe(client(router, ann), 'popular'), subscribe(client(router, bob), 'popular')];
    const narrower = subscribe(client(router), 'popular', `subscription Narrow($id: ID!) { thingChanged(id: $id) { price } }`);
    await waitFor('ten subscriptions at the things subgraph', () => topic.watching('popular') === 10);
    const before = router.subgraphFetches.get('prices') ?? 0;

    topic.publish({ id: 'popular', name: 'on sale' });
    for (const received of [...anonymous, ...signedIn, narrower]) await received.waitFor(1);

    for (const received of [...anonymous, ...signedIn]) {
      expect(received.payloads).toEqual([{ data: { thingChanged: { id: 'popular', name: 'on sale', price: 4200 } } }]);
    }
    expect(narrower.payloads).toEqual([{ data: { thingChanged: { price: 4200 } } }]);
    // One fetch for the anonymous six, one per token (ann's two share), one for the other operation.
    expect((router.subgraphFetches.get('prices') ?? 0) - before).toBe(4);
    expect(pricesAuthorization.slice(-4).sort()).toEqual([undefined, undefined, ann, bob].sort());

    // A different event is completed afresh, with what the prices subgraph says now.
    prices.set('popular', 3900);
    topic.publish({ id: 'popular', name: 'last units' });
    for (const received of anonymous) await received.waitFor(2);
    expect(anonymous.map((r) => r.payloads[1])).toEqual(
      Array.from({ length: 6 }, () => ({ data: { thingChanged: { id: 'popular', name: 'last units', price: 3900 } } })),
    );
  });

  it('reports connections, subscriptions, payloads and subgraph requests on /metrics', async () => {
    const metrics = async () => (await fetch(router.url.replace(/\/graphql$/, '/metrics'))).text();
    const gauge = async (name: string) => metricSample(await metrics(), name, { service: 'router' });
    // Earlier tests' clients are gone: every gauge is back to zero.
    await waitFor('no subscriptions left', async () => (await gauge('shop_subscriptions_active')) === 0);
    await waitFor('no connections left', async () => (await gauge('shop_websocket_connections')) === 0);
    const before = await metrics();
    const c = client(router);
    const received = subscribe(c, 'metered');
    await waitFor('the subscription', () => topic.watching('metered') === 1);
    prices.set('metered', 10);
    topic.publish({ id: 'metered', name: 'counted' });
    await received.waitFor(1);
    const during = await metrics();
    expect(metricSample(during, 'shop_subscriptions_active', { service: 'router' })).toBe(1);
    expect(metricSample(during, 'shop_websocket_connections', { service: 'router' })).toBe(1);
    const payloads = (text: string) => metricSample(text, 'shop_subscription_payloads_total', { service: 'router' });
    expect(payloads(during) - payloads(before)).toBe(1);
    const pricesRequests = (text: string) => metricSample(text, 'shop_router_subgraph_requests_total', { subgraph: 'prices' });
    expect(pricesRequests(during) - pricesRequests(before)).toBe(1);

    await c.dispose();
    clients.splice(clients.indexOf(c), 1);
    await waitFor('the subscription to be released', async () => (await gauge('shop_subscriptions_active')) === 0);
    await waitFor('the connection to close', async () => (await gauge('shop_websocket_connections')) === 0);
  });

  it('releases the subgraph subscription when the client completes its own', async () => {
    const c = client(router);
    const received = new Received();
    const unsubscribe = c.subscribe({ query: SUBSCRIPTION, variables: { id: 't4' } }, received.sink);
    await waitFor('the subscription', () => topic.watching('t4') === 1);
    unsubscribe();
    await waitFor('the things subgraph to release it', () => topic.watching('t4') === 0);
  });

  it('reuses one upstream connection for the subscriptions a client opens one after another, and closes it with the client', async () => {
    // One connection to the router for the whole test, as an app keeps it.
    const c = createClient({ url: wsUrl(router), webSocketImpl: WebSocket, connectionParams: { authorization: ann }, lazy: false, retryAttempts: 0 });
    clients.push(c);
    const opened = thingsConnectionParams.length;
    for (const id of ['t5', 't6', 't7']) {
      const received = new Received();
      const unsubscribe = c.subscribe({ query: SUBSCRIPTION, variables: { id } }, received.sink);
      await waitFor(`the subscription to ${id}`, () => topic.watching(id) === 1);
      topic.publish({ id, name: `thing ${id}` });
      await received.waitFor(1);
      unsubscribe();
      await waitFor(`the things subgraph to release ${id}`, () => topic.watching(id) === 0);
    }
    expect(thingsConnectionParams.length - opened).toBe(1);
    const upstream = [...thingsSockets.clients].length;
    await c.dispose();
    await waitFor('the upstream connection to close with the client', () => thingsSockets.clients.size === upstream - 1);
  });

  it('refuses invalid operations, queries over the socket, and bad variables with coded errors', async () => {
    const c = client(router);
    const unknownField = new Received();
    c.subscribe({ query: 'subscription { thingChanged(id: "x") { colour } }' }, unknownField.sink);
    const query = new Received();
    c.subscribe({ query: '{ thing(id: "x") { name } }' }, query.sink);
    const missingVariable = new Received();
    c.subscribe({ query: SUBSCRIPTION }, missingVariable.sink);
    await Promise.all([unknownField.done, query.done, missingVariable.done]);
    expect((unknownField.error as any[])[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((query.error as any[])[0]).toMatchObject({ message: expect.stringMatching(/over HTTP/), extensions: { code: 'BAD_REQUEST' } });
    expect((missingVariable.error as any[])[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('refuses more subscriptions on one connection than the limit, and accepts them again once one ends', async () => {
    const c = client(router);
    const open = ['l1', 'l2', 'l3'].map((id) => subscribe(c, id));
    await waitFor('three subscriptions', () => ['l1', 'l2', 'l3'].every((id) => topic.watching(id) === 1));
    const fourth = subscribe(c, 'l4');
    await fourth.done;
    expect((fourth.error as any[])[0]).toMatchObject({ message: expect.stringMatching(/at most 3 subscriptions/), extensions: { code: 'SUBSCRIPTION_LIMIT' } });
    expect(topic.watching('l4')).toBe(0);

    // Another connection has its own allowance.
    subscribe(client(router), 'l5');
    await waitFor('a subscription on another connection', () => topic.watching('l5') === 1);

    // A subscription the server completes frees its place.
    topic.subscribers.forEach((s) => s.id === 'l1' && s.stream.end());
    await open[0]!.done;
    expect(open[0]!.completed).toBe(true);
    const again = subscribe(c, 'l6');
    await waitFor('a subscription after one ended', () => topic.watching('l6') === 1);
    expect([...open, again].every((r) => r.error === undefined)).toBe(true);
  });

  it('refuses WebSocket upgrades from origins outside the allowlist and accepts listed ones', async () => {
    const evil = rawSocket(wsUrl(router), 'https://evil.example');
    const status = await new Promise<number>((resolve, reject) => {
      evil.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      evil.once('open', () => reject(new Error('a disallowed origin was let in')));
      evil.once('error', () => {});
    });
    expect(status).toBe(403);

    const shop = rawSocket(wsUrl(router), 'https://shop.example');
    await new Promise((resolve, reject) => {
      shop.once('open', resolve);
      shop.once('error', reject);
    });
    shop.close();
  });

  it('closes a connection that never sends connection_init', async () => {
    const socket = rawSocket(wsUrl(router));
    expect(await closeCode(socket)).toBe(4408);
  });

  it('replaces an event larger than the limit by an error and keeps the stream open', async () => {
    const small = await start({ subscriptions: { maxEventBytes: 300 } });
    try {
      prices.set('big', 5);
      const received = subscribe(client(small), 'big');
      await waitFor('the subscription', () => topic.watching('big') === 1);
      topic.publish({ id: 'big', name: 'x'.repeat(1000) });
      topic.publish({ id: 'big', name: 'short' });
      await received.waitFor(2);
      expect(received.payloads[0]).toEqual({ data: null, errors: [expect.objectContaining({ message: expect.stringMatching(/larger than 300 bytes/), extensions: { code: 'EVENT_TOO_LARGE' } })] });
      expect(received.payloads[1]).toEqual({ data: { thingChanged: { id: 'big', name: 'short', price: 5 } } });
    } finally {
      await small.stop();
    }
  });

  it('refuses a token it cannot verify on connection_init with 4403, before opening anything upstream', async () => {
    const upstreamBefore = thingsConnectionParams.length;
    const foreignKeys = new AccessTokens(await generateTokenKeys(), { issuer: 'test-shop', ttlSeconds: 600 });
    const refusals = ['Bearer not-a-token', 'Basic YW5uOnNlY3JldA==', `Bearer ${(await foreignKeys.issue('ann', ['admin'])).token}`];
    for (const authorization of refusals) {
      const forged = liveClient(router.url, { authorization });
      const watch = forged.subscribe(SUBSCRIPTION, { id: 'guarded' });
      await watch.ended();
      expect(watch.payloads).toEqual([]);
      expect(forged.closes).toEqual([4403]);
      await forged.dispose();
    }
    expect(thingsConnectionParams.length).toBe(upstreamBefore);
    expect(topic.watching('guarded')).toBe(0);

    // No token at all is an anonymous caller: public subscriptions are served.
    const anonymous = liveClient(router.url);
    anonymous.subscribe(SUBSCRIPTION, { id: 'guarded' });
    await waitFor('the anonymous subscription', () => topic.watching('guarded') === 1);
    expect(anonymous.closes).toEqual([]);
    await anonymous.dispose();
  });

  it('ends the subscriptions of a connection with UNAUTHENTICATED when its token expires, then closes it with 4401', async () => {
    // Tokens living two seconds: expiry has whole-second precision, so one lasts between one and two.
    const shortLived = new AccessTokens(await generateTokenKeys(), { issuer: 'test-shop', ttlSeconds: 2 });
    const own = await start({ tokens: shortLived });
    try {
      prices.set('e1', 7);
      const expiring = liveClient(own.url, { authorization: `Bearer ${(await shortLived.issue('ann', ['customer'])).token}` }, { lazy: false });
      const watch = expiring.subscribe(SUBSCRIPTION, { id: 'e1' });
      await waitFor('the subscription', () => topic.watching('e1') === 1);
      topic.publish({ id: 'e1', name: 'while signed in' });
      await watch.ended(5000);
      expect(watch.payloads).toEqual([
        { data: { thingChanged: { id: 'e1', name: 'while signed in', price: 7 } } },
        { data: null, errors: [expect.objectContaining({ extensions: { code: 'UNAUTHENTICATED' } })] },
      ]);
      expect(watch.completed).toBe(true);
      await waitFor('the socket to close', () => expiring.closes.length > 0);
      expect(expiring.closes).toEqual([4401]);
      // The upstream subscription, opened with the same token, is released too.
      await waitFor('the things subgraph to release the subscription', () => topic.watching('e1') === 0);
      await expiring.dispose();
    } finally {
      await own.stop();
    }
  });

  it('ends the subscriptions of a connection whose session ended, within seconds, and closes it with 4401', async () => {
    const ended = new EndedSessions();
    const tokens = new AccessTokens(await generateTokenKeys(), { issuer: 'test-shop', ttlSeconds: 900 });
    tokens.useRevocations({ hasEnded: (id) => ended.hasEnded(id), revoke: async () => {} });
    const own = await start({ tokens });
    try {
      prices.set('r1', 3);
      const signedIn = liveClient(own.url, { authorization: `Bearer ${(await tokens.issue('ann', ['customer'], 'session-r1')).token}` }, { lazy: false });
      const watch = signedIn.subscribe(SUBSCRIPTION, { id: 'r1' });
      await waitFor('the subscription', () => topic.watching('r1') === 1);
      const endedAt = Date.now();
      ended.add(['session-r1'], Date.now() + 60_000);
      await watch.ended(5000);
      expect(Date.now() - endedAt).toBeLessThan(2500);
      expect(watch.payloads).toEqual([{ data: null, errors: [expect.objectContaining({ extensions: { code: 'UNAUTHENTICATED' } })] }]);
      await waitFor('the socket to close', () => signedIn.closes.length > 0);
      expect(signedIn.closes).toEqual([4401]);
      await waitFor('the things subgraph to release the subscription', () => topic.watching('r1') === 0);
      await signedIn.dispose();
    } finally {
      await own.stop();
    }
  });

  it('completes open subscriptions and closes sockets with 1001 when the router stops', async () => {
    const own = await start();
    const received = subscribe(client(own), 's1');
    await waitFor('the subscription', () => topic.watching('s1') === 1);
    topic.publish({ id: 's1', name: 'first' });
    await received.waitFor(1);

    const idle = rawSocket(wsUrl(own));
    await new Promise((resolve) => idle.once('open', resolve));
    idle.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((resolve) => idle.once('message', resolve));
    const idleClosed = closeCode(idle);

    await own.stop();
    await received.done;
    expect(received.completed).toBe(true);
    expect(received.error).toBeUndefined();
    expect(await idleClosed).toBe(1001);
    await waitFor('the things subgraph to release the subscription', () => topic.watching('s1') === 0);
  });
});

describe('originAllowed', () => {
  it('lets clients without an Origin in, and browsers only from the same host when no list is set', () => {
    expect(originAllowed(undefined, 'shop.example', [])).toBe(true);
    expect(originAllowed('https://shop.example', 'shop.example', [])).toBe(true);
    expect(originAllowed('http://localhost:4000', 'localhost:4000', [])).toBe(true);
    expect(originAllowed('http://localhost:3000', 'localhost:4000', [])).toBe(false);
    expect(originAllowed('https://evil.example', 'shop.example', [])).toBe(false);
    expect(originAllowed('null', 'shop.example', [])).toBe(false);
  });

  it('allows exactly the listed origins when a list is set', () => {
    const list = ['https://shop.example', 'http://localhost:3000'];
    expect(originAllowed('https://shop.example', 'api.shop.example', list)).toBe(true);
    expect(originAllowed('http://localhost:3000', 'localhost:4000', list)).toBe(true);
    expect(originAllowed('http://shop.example', 'api.shop.example', list)).toBe(false);
    expect(originAllowed('https://api.shop.example', 'api.shop.example', list)).toBe(false);
  });
});
