import { parse } from 'graphql';
import WebSocket from 'ws';
import type { RequestContext } from '../context';
import { liveClient, metricSample, serveTestSubgraph, testDeps, waitFor, type TestDeps } from '../testing';

describe("a subgraph's WebSocket subscriptions", () => {
  let deps: TestDeps;
  beforeAll(async () => {
    deps = await testDeps('pglite');
  });
  afterAll(async () => {
    await deps.release();
  });

  it('releases a subscription whose source fails, and keeps the connection serving', async () => {
    let released = 0;
    /** One tick, then the source fails (a store read that throws, say). */
    const failingTicks = (): AsyncIterableIterator<{ ticks: number }> => {
      let sent = false;
      const iterator: AsyncIterableIterator<{ ticks: number }> = {
        next: async () => {
          if (sent) throw new Error('the store went away');
          sent = true;
          return { value: { ticks: 1 }, done: false };
        },
        return: async () => {
          released += 1;
          return { value: undefined, done: true };
        },
        [Symbol.asyncIterator]: () => iterator,
      };
      return iterator;
    };
    const server = await serveTestSubgraph<RequestContext>(
      {
        // Any subgraph name; this one has no subscriptions of its own.
        name: 'recommendation',
        typeDefs: parse(`type Query { ok: Boolean } type Subscription { ticks: Int! }`),
        resolvers: { Subscription: { ticks: { subscribe: failingTicks } } } as never,
        stores: [],
        context: (base) => base,
      },
      deps,
    );
    const active = async () => metricSample(await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text(), 'shop_subscriptions_active', { service: 'recommendation' });
    const client = liveClient(server.url, {}, { lazy: false });
    try {
      const first = client.subscribe(`subscription { ticks }`);
      await first.ended();
      expect(first.payloads[0]).toEqual({ data: { ticks: 1 } });
      expect(released).toBe(1);
      await waitFor('the subscription to be counted out', async () => (await active()) === 0);
      // The same connection still takes subscriptions.
      const second = client.subscribe(`subscription { ticks }`);
      await second.waitFor(1);
      expect(client.closes).toEqual([]);
    } finally {
      await client.dispose();
      await server.stop();
    }
  });

  it("refuses an upgrade from another site's page with 403, and serves pages of its own host", async () => {
    const server = await serveTestSubgraph<RequestContext>(
      {
        name: 'recommendation',
        typeDefs: parse(`type Query { ok: Boolean } type Subscription { ticks: Int! }`),
        resolvers: {} as never,
        stores: [],
        context: (base) => base,
      },
      deps,
    );
    const url = server.url.replace(/^http/, 'ws');
    const opened = (origin: string) =>
      new Promise<number | 'open'>((resolve) => {
        const socket = new WebSocket(url, 'graphql-transport-ws', { origin });
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.once('open', () => {
          socket.close();
          resolve('open');
        });
        socket.once('error', () => {});
      });
    try {
      expect(await opened('https://evil.example')).toBe(403);
      expect(await opened(new URL(server.url).origin)).toBe('open');
    } finally {
      await server.stop();
    }
  });

  it('ends the subscriptions of a connection whose session ended, and closes it with 4401', async () => {
    /** A tick every 50 ms until the subscription is released. */
    const ticking = (): AsyncIterableIterator<{ ticks: number }> => {
      let count = 0;
      const iterator: AsyncIterableIterator<{ ticks: number }> = {
        next: () => new Promise((resolve) => setTimeout(() => resolve({ value: { ticks: ++count }, done: false }), 50)),
        return: async () => ({ value: undefined, done: true }),
        [Symbol.asyncIterator]: () => iterator,
      };
      return iterator;
    };
    const server = await serveTestSubgraph<RequestContext>(
      {
        name: 'recommendation',
        typeDefs: parse(`type Query { ok: Boolean } type Subscription { ticks: Int! }`),
        resolvers: { Subscription: { ticks: { subscribe: ticking } } } as never,
        stores: [],
        context: (base) => base,
      },
      deps,
    );
    const { token } = await deps.tokens.issue('customer-9', ['customer'], 'session-9');
    const client = liveClient(server.url, { authorization: `Bearer ${token}` }, { lazy: false });
    try {
      const ticks = client.subscribe(`subscription { ticks }`);
      await ticks.waitFor(2);
      const endedAt = Date.now();
      await deps.revocations.revoke(['session-9'], new Date(Date.now() + 60_000));
      await ticks.ended();
      expect(Date.now() - endedAt).toBeLessThan(2500);
      expect(ticks.payloads.at(-1)).toEqual({ data: null, errors: [expect.objectContaining({ extensions: { code: 'UNAUTHENTICATED' } })] });
      await waitFor('the socket to close', () => client.closes.length > 0);
      expect(client.closes).toEqual([4401]);
    } finally {
      await client.dispose();
      await server.stop();
    }
  });
});
