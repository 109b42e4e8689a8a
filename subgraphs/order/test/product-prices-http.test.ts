import net from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { ShopError } from '../../../platform/errors';
import { testDeps, type TestDeps } from '../../../platform/testing';
import { httpProductPrices } from '../catalog/http';
import { catalogProducts, productId, startCatalog } from './helpers';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ShopError) return error.code;
    throw error;
  }
  return undefined;
}

/** A TCP server that accepts connections and never answers. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/graphql`;
}

describe('catalog prices from product-search over HTTP', () => {
  let deps: TestDeps;
  let catalog: Awaited<ReturnType<typeof startCatalog>>;
  const calls: { url: string; headers: Record<string, string>; ids: string[] }[] = [];
  /** Sends as the default does, and records each call on its way out. */
  const recording: Dispatcher = new Agent().compose((dispatch) => (call, handler) => {
    const body = JSON.parse(String(call.body)) as { variables: { ids: string[] } };
    calls.push({ url: `${call.origin}${call.path}`, headers: call.headers as Record<string, string>, ids: body.variables.ids });
    return dispatch(call, handler);
  });

  beforeAll(async () => {
    deps = await testDeps('pglite');
    catalog = await startCatalog(
      deps,
      catalogProducts(Array.from({ length: 250 }, (_, n) => 100 + n)),
    );
  });
  afterAll(async () => {
    await catalog?.stop();
    await deps?.release();
  });
  beforeEach(() => {
    calls.length = 0;
  });

  const prices = () => httpProductPrices({ url: () => deps.peers.url('product-search'), logger: deps.logger, dispatcher: recording });

  it('answers current prices and names of known products; unknown products are absent', async () => {
    const found = await prices().pricesOf([productId(3), 'no-such-product', productId(0)]);
    expect([...found.entries()].sort(([a], [b]) => a.localeCompare(b))).toEqual([
      [productId(0), { name: 'Product 0', archived: false, price: { amount: 100, currency: 'USD' } }],
      [productId(3), { name: 'Product 3', archived: false, price: { amount: 103, currency: 'USD' } }],
    ]);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe(catalog.url);
  });

  it('forwards the request id', async () => {
    await prices().pricesOf([productId(1)], { requestId: 'req-checkout-42' });
    expect(calls[0]!.headers['x-request-id']).toBe('req-checkout-42');
  });

  it('asks for each product once, at most 100 per query', async () => {
    const ids = Array.from({ length: 250 }, (_, n) => productId(n));
    const found = await prices().pricesOf([...ids, ...ids.slice(0, 10)]);
    expect(found.size).toBe(250);
    expect(found.get(productId(249))!.price.amount).toBe(349);
    expect(calls.map((c) => c.ids.length)).toEqual([100, 100, 50]);
  });

  it('does not call the catalog for no products', async () => {
    expect((await prices().pricesOf([])).size).toBe(0);
    expect(calls).toHaveLength(0);
  });

  it('answers SUBGRAPH_UNAVAILABLE when nothing listens', async () => {
    const url = await closedPortUrl();
    expect(await codeOf(httpProductPrices({ url: () => url, logger: deps.logger }).pricesOf([productId(1)]))).toBe('SUBGRAPH_UNAVAILABLE');
  });

  it('answers SUBGRAPH_UNAVAILABLE when the catalog does not answer in time', async () => {
    const silent = await silentServer();
    try {
      const started = Date.now();
      const adapter = httpProductPrices({ url: () => silent.url, logger: deps.logger, timeoutMs: 200 });
      expect(await codeOf(adapter.pricesOf([productId(1)]))).toBe('SUBGRAPH_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  });

  it('answers SUBGRAPH_UNAVAILABLE when the peer answers something that is not the prices', async () => {
    const notGraphql = catalog.url.replace(/\/graphql$/, '/health');
    expect(await codeOf(httpProductPrices({ url: () => notGraphql, logger: deps.logger }).pricesOf([productId(1)]))).toBe(
      'SUBGRAPH_UNAVAILABLE',
    );
    const missing = catalog.url.replace(/\/graphql$/, '/nowhere');
    expect(await codeOf(httpProductPrices({ url: () => missing, logger: deps.logger }).pricesOf([productId(1)]))).toBe(
      'SUBGRAPH_UNAVAILABLE',
    );
  });

  it('follows the peer directory on every call', async () => {
    const adapter = prices();
    const original = deps.peers.url('product-search');
    deps.peers.set('product-search', await closedPortUrl());
    try {
      expect(await codeOf(adapter.pricesOf([productId(1)]))).toBe('SUBGRAPH_UNAVAILABLE');
    } finally {
      deps.peers.set('product-search', original);
    }
    expect((await adapter.pricesOf([productId(1)])).size).toBe(1);
  });
});
