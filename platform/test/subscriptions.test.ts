import { parse } from 'graphql';
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
});
