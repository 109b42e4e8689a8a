/**
 * The order subgraph's price cache: prices held between product changes, dropped when
 * product-search announces a change, and never kept while announcements cannot be heard.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { silentLogger } from '../../../platform/logger';
import { money } from '../../../platform/money';
import { InProcessPubSub, PRODUCT_INVALIDATION_TOPIC, RedisPubSub, type PubSub } from '../../../platform/pubsub';
import { postGraphQL, serveTestSubgraph, sleep, storeBackends, testDeps, TEST_REDIS_URL, type TestDeps } from '../../../platform/testing';
import { productSearchSubgraph, openCatalogStore } from '../../product-search/subgraph';
import { seedCatalog } from '../../product-search/seed';
import { CachedProductPrices } from '../catalog/cached';
import type { CatalogPrice, ProductPrices } from '../catalog/port';
import { orderSubgraph, openOrderStore } from '../subgraph';
import { catalogProducts, productId } from './helpers';

const price = (amount: number): CatalogPrice => ({ price: money(amount, 'USD'), name: `Product at ${amount}`, archived: false });

/** A catalog in memory that counts the calls it answers; `hold` keeps the next answer back until released. */
function countingCatalog(prices: Record<string, CatalogPrice>) {
  const calls: string[][] = [];
  let held: Promise<void> | undefined;
  const source: ProductPrices = {
    async pricesOf(ids) {
      calls.push([...ids]);
      const answer = new Map(ids.filter((id) => prices[id]).map((id) => [id, prices[id]!] as const));
      if (held) await held;
      return answer;
    },
  };
  return {
    source,
    calls,
    prices,
    hold() {
      let release!: () => void;
      held = new Promise((resolve) => (release = resolve));
      return () => {
        held = undefined;
        release();
      };
    },
  };
}

describe('cached catalog prices', () => {
  let pubsub: PubSub;
  beforeEach(() => {
    pubsub = new InProcessPubSub(silentLogger());
  });
  afterEach(() => pubsub.close());

  function cached(catalog: ReturnType<typeof countingCatalog>, ttlMs = 60_000) {
    return new CachedProductPrices({ source: catalog.source, pubsub: async () => pubsub, ttlMs, maxEntries: 100, logger: silentLogger() });
  }

  const announce = (...ids: string[]) =>
    pubsub.publish(PRODUCT_INVALIDATION_TOPIC, { products: ids.map((id) => ({ id, version: Date.now() })) });

  it('asks the catalog only for products it does not hold, once per product', async () => {
    const catalog = countingCatalog({ a: price(100), b: price(200), c: price(300) });
    const prices = cached(catalog);
    const listener = prices.invalidationListener();
    await listener.start();
    expect(await prices.pricesOf(['a', 'b', 'a'])).toEqual(new Map([['a', price(100)], ['b', price(200)]]));
    expect(await prices.pricesOf(['b', 'c', 'a'])).toEqual(new Map([['b', price(200)], ['c', price(300)], ['a', price(100)]]));
    expect(await prices.pricesOf(['c', 'a'])).toEqual(new Map([['c', price(300)], ['a', price(100)]]));
    expect(catalog.calls).toEqual([['a', 'b'], ['c']]);
    await listener.stop();
  });

  it('asks again for a product once product-search announces that it changed', async () => {
    const catalog = countingCatalog({ a: price(100), b: price(200) });
    const prices = cached(catalog);
    const listener = prices.invalidationListener();
    await listener.start();
    await prices.pricesOf(['a', 'b']);
    catalog.prices.a = price(150);
    await announce('a');
    await sleep(0);
    expect(await prices.pricesOf(['a', 'b'])).toEqual(new Map([['a', price(150)], ['b', price(200)]]));
    expect(catalog.calls).toEqual([['a', 'b'], ['a']]);
    await listener.stop();
  });

  it('answers but does not keep what a load read before a change announced while it ran', async () => {
    const catalog = countingCatalog({ a: price(100) });
    const prices = cached(catalog);
    const listener = prices.invalidationListener();
    await listener.start();
    const release = catalog.hold();
    const loading = prices.pricesOf(['a']);
    await sleep(0);
    catalog.prices.a = price(120);
    await announce('a');
    await sleep(0);
    release();
    // What the catalog answered before the change is what the caller asked for, but it is not kept.
    expect((await loading).get('a')).toEqual(price(100));
    expect((await prices.pricesOf(['a'])).get('a')).toEqual(price(120));
    expect(catalog.calls).toEqual([['a'], ['a']]);
    await listener.stop();
  });

  it('keeps nothing before it hears announcements or after it stops, and does not remember unknown products', async () => {
    const catalog = countingCatalog({ a: price(100) });
    const prices = cached(catalog);
    await prices.pricesOf(['a']);
    await prices.pricesOf(['a']);
    expect(catalog.calls).toHaveLength(2);
    const listener = prices.invalidationListener();
    await listener.start();
    expect(await prices.pricesOf(['a', 'new'])).toEqual(new Map([['a', price(100)]]));
    catalog.prices.new = price(5);
    expect(await prices.pricesOf(['a', 'new'])).toEqual(new Map([['a', price(100)], ['new', price(5)]]));
    expect(catalog.calls.slice(2)).toEqual([['a', 'new'], ['new']]);
    await listener.stop();
    expect(prices.size).toBe(0);
    await prices.pricesOf(['a']);
    expect(catalog.calls.slice(4)).toEqual([['a']]);
  });

  it('asks again once a price is older than its time to live, change or not', async () => {
    const catalog = countingCatalog({ a: price(100) });
    const prices = cached(catalog, 30);
    const listener = prices.invalidationListener();
    await listener.start();
    await prices.pricesOf(['a']);
    await prices.pricesOf(['a']);
    await sleep(60);
    await prices.pricesOf(['a']);
    expect(catalog.calls).toEqual([['a'], ['a']]);
    await listener.stop();
  });
});

/** In-process pub/sub always; Redis pub/sub, as between processes, when the run has a server. */
const transports: [string, Record<string, string>][] = [['in-process pub/sub', {}]];
if (TEST_REDIS_URL) {
  transports.push(['Redis pub/sub', { REDIS_URL: TEST_REDIS_URL, EVENT_STREAM_PREFIX: `price-cache-${randomBytes(4).toString('hex')}` }]);
} else {
  process.stderr.write('SKIPPED: price cache over Redis pub/sub (set TEST_REDIS_URL)\n');
}
const variants = storeBackends().flatMap((backend) => transports.map(([name, env]) => [`${backend}, ${name}`, backend, env] as const));

describe.each(variants)('checkout prices through the cache, from product-search on %s', (_name, backend, env) => {
  const LAMP = productId(0);
  const CART = `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Customer { cart { lines { unitPrice { amount } } } } } }`;
  const ADD = `mutation ($input: CartLineInput!) { addToCart(input: $input) { lines { unitPrice { amount } } } }`;
  let deps: TestDeps;
  let catalog: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let order: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let catalogCalls = 0;

  beforeAll(async () => {
    deps = await testDeps(backend, ['order', 'product-search'], env);
    const pubsub = await deps.pubsub();
    expect(pubsub instanceof RedisPubSub).toBe(Boolean(env.REDIS_URL));
    // product-search announcing its changes on the shop's pub/sub, as each process does.
    const search = productSearchSubgraph(await openCatalogStore(deps), deps.config.SHOP_CURRENCY, { pubsub });
    const shop = { currency: 'USD', categories: [{ id: 'cat-things', slug: 'things', name: 'Things', description: '' }], brands: [{ id: 'brand-acme', slug: 'acme', name: 'Acme' }], products: catalogProducts([1999]), warehouses: [], stock: [], customers: [], orders: [] };
    expect(await seedCatalog(search.service, shop)).toBe(true);
    // Every request product-search answers builds its context once: the count of catalog calls.
    const context = search.context;
    catalog = await serveTestSubgraph({ ...search, context: (base) => ((catalogCalls += 1), context(base)) }, deps);
    deps.peers.set('product-search', catalog.url);
    // The order subgraph as every process builds it: prices from product-search, kept between changes.
    order = await serveTestSubgraph(orderSubgraph(await openOrderStore(deps), deps), deps);
  });
  afterAll(async () => {
    await order?.stop();
    await catalog?.stop();
    await deps?.release();
  });

  it('prices carts without asking product-search again, and follows a price change as soon as it is announced', async () => {
    const customerId = randomUUID();
    const auth = await deps.bearer(customerId);
    const admin = await deps.bearer(randomUUID(), ['customer', 'admin']);
    const cart = async () =>
      (await order.query(CART, { reps: [{ __typename: 'Customer', id: customerId }] }, auth)).data?._entities[0].cart.lines[0].unitPrice.amount;

    expect((await order.query(ADD, { input: { productId: LAMP, quantity: 1 } }, auth)).data?.addToCart.lines[0].unitPrice.amount).toBe(1999);
    const before = catalogCalls;
    for (let i = 0; i < 3; i++) expect(await cart()).toBe(1999);
    expect(catalogCalls).toBe(before);

    const repriced = await postGraphQL(catalog.url, `mutation ($id: ID!) { updateProduct(id: $id, input: { price: 2499 }) { id } }`, { id: LAMP }, { authorization: admin });
    expect(repriced.errors).toBeUndefined();
    const changed = catalogCalls;
    // In-process the announcement is heard before the mutation answers; over Redis it follows within milliseconds.
    const until = Date.now() + 2000;
    while ((await cart()) !== 2499 && Date.now() < until) await sleep(5);
    expect(await cart()).toBe(2499);
    // The new price was asked for once, then kept again.
    expect(catalogCalls).toBe(changed + 1);
  });
});
