import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Scope } from '../../../platform/auth';
import { silentLogger } from '../../../platform/logger';
import { serveTestSubgraph, sleep, storeBackends, testDeps, TEST_REDIS_URL, type TestDeps } from '../../../platform/testing';
import { seedCatalog } from '../seed';
import type { ProductCache } from '../store/cache';
import { memoryProductCache } from '../store/cache-memory';
import { redisProductCache } from '../store/cache-redis';
import type { CatalogStore } from '../store/port';
import { openCatalogStore, productSearchSubgraph } from '../subgraph';
import { catalogFixture, fixtureShop } from './catalog-fixture';

const fixture = catalogFixture(40);

/** A cache for each replica: its own LRU, or one Redis keyspace shared by every replica of a test. */
type CacheFactory = () => Promise<() => Promise<ProductCache>>;

const caches: [string, CacheFactory][] = [['in-process LRUs', async () => async () => memoryProductCache()]];
if (TEST_REDIS_URL) {
  caches.push([
    'Redis',
    async () => {
      const prefix = `{product-cache-test-${randomBytes(6).toString('hex')}}`;
      return async () => {
        // A cache call that timed out would read the store, which these tests count: production's
        // 100 ms limit per command is shorter than a busy test machine can promise.
        const cache = redisProductCache({ url: TEST_REDIS_URL!, logger: silentLogger(), prefix, timeoutMs: 5_000 });
        for (let i = 0; i < 100 && !(await cache.ready()); i++) await sleep(20);
        return cache;
      };
    },
  ]);
} else {
  process.stderr.write('SKIPPED: Redis product cache tests (set TEST_REDIS_URL)\n');
}

const variants = storeBackends().flatMap((backend) => caches.map(([name, factory]) => [`${backend}, ${name}`, backend, factory] as const));

const PRODUCT = 'query($id: ID!) { product(id: $id) { id name price { amount } } }';
const ENTITIES = 'query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Product { id name } } }';
const UPDATE = 'mutation($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { id name } }';

describe.each(variants)('the product cache through the subgraph on %s', (_name, backend, cacheFactory) => {
  let deps: TestDeps;
  let store: CatalogStore;
  let admin: string;
  /** Reads of the catalog (productsByIds calls), slowed so that concurrent requests overlap. */
  let catalogReads = 0;
  let slowCatalog = false;
  const replicas: Awaited<ReturnType<typeof serveTestSubgraph>>[] = [];

  beforeAll(async () => {
    deps = await testDeps(backend, ['product-search']);
    const opened = await openCatalogStore(deps);
    const productsByIds = opened.catalog.productsByIds;
    store = {
      ...opened,
      catalog: {
        ...opened.catalog,
        productsByIds: async (ids) => {
          catalogReads += 1;
          if (slowCatalog) await sleep(100);
          return productsByIds(ids);
        },
      },
    };
    const cacheFor = await cacheFactory();
    const pubsub = await deps.pubsub();
    // Two replicas of the subgraph on one catalog, as behind a load balancer.
    for (let i = 0; i < 2; i++) {
      const definition = productSearchSubgraph(store, 'USD', { cache: await cacheFor(), pubsub });
      if (i === 0) expect(await seedCatalog(definition.service, fixtureShop(fixture))).toBe(true);
      // Each replica closes its own cache; the catalog is closed once, by the test.
      definition.stores = definition.stores.filter((s) => s !== store);
      replicas.push(await serveTestSubgraph(definition, deps));
    }
    admin = await deps.bearer('admin-1', ['customer', 'admin'] as Scope[]);
  });
  afterAll(async () => {
    for (const replica of replicas) await replica.stop();
    await store?.close();
    await deps?.release();
  });

  /** Store statements `work` costs. */
  async function statementsOf(work: () => Promise<unknown>): Promise<number> {
    const before = store.catalog.statementCount();
    await work();
    return store.catalog.statementCount() - before;
  }

  it('reads a product from the store once, then from the cache', async () => {
    const p = fixture.products[0]!;
    const first = await statementsOf(async () => {
      expect((await replicas[0]!.query(PRODUCT, { id: p.id })).data!.product).toEqual({ id: p.id, name: p.name, price: { amount: p.priceAmount } });
    });
    expect(first).toBe(1);
    const second = await statementsOf(async () => {
      expect((await replicas[0]!.query(PRODUCT, { id: p.id })).data!.product.name).toBe(p.name);
    });
    expect(second).toBe(0);
  });

  it('reads the misses of an entity batch in one statement, and nothing the second time', async () => {
    const reps = fixture.products.slice(1, 21).map((p) => ({ __typename: 'Product', id: p.id }));
    const first = await statementsOf(async () => {
      const res = await replicas[0]!.query(ENTITIES, { reps });
      expect(res.data!._entities.map((e: { name: string }) => e.name)).toEqual(fixture.products.slice(1, 21).map((p) => p.name));
    });
    expect(first).toBe(1);
    expect(await statementsOf(() => replicas[0]!.query(ENTITIES, { reps }))).toBe(0);
  });

  it('drops a product on every replica when it changes', async () => {
    const p = fixture.products[21]!;
    for (const replica of replicas) expect((await replica.query(PRODUCT, { id: p.id })).data!.product.name).toBe(p.name);
    const res = await replicas[0]!.query(UPDATE, { id: p.id, input: { name: 'Renamed Rustic Chair' } }, `${admin}`);
    expect(res.errors).toBeUndefined();
    // Other replicas hear of it over pub/sub (in-process LRUs) or share the entry (Redis).
    await sleep(50);
    for (const replica of replicas) {
      expect((await replica.query(PRODUCT, { id: p.id })).data!.product.name).toBe('Renamed Rustic Chair');
    }
  });

  it('drops a product on every replica when it is archived', async () => {
    const p = fixture.products[22]!;
    const ARCHIVED = 'query($id: ID!) { product(id: $id) { id archived } }';
    for (const replica of replicas) expect((await replica.query(ARCHIVED, { id: p.id })).data!.product.archived).toBe(false);
    const res = await replicas[1]!.query('mutation($id: ID!) { archiveProduct(id: $id) { archived } }', { id: p.id }, admin);
    expect(res.errors).toBeUndefined();
    await sleep(50);
    for (const replica of replicas) expect((await replica.query(ARCHIVED, { id: p.id })).data!.product.archived).toBe(true);
  });

  it('reads a product that many requests miss at once from the store once', async () => {
    const p = fixture.products[30]!;
    slowCatalog = true;
    try {
      const reads = catalogReads;
      const answers = await Promise.all(Array.from({ length: 20 }, () => replicas[0]!.query(PRODUCT, { id: p.id })));
      expect(answers.every((a) => a.data!.product.name === p.name)).toBe(true);
      expect(catalogReads - reads).toBe(1);
    } finally {
      slowCatalog = false;
    }
  });
});

describe('a product cache that does not answer', () => {
  let deps: TestDeps;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let store: CatalogStore;
  const logs: { msg: string }[] = [];

  beforeAll(async () => {
    deps = await testDeps('pglite', ['product-search']);
    store = await openCatalogStore(deps);
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _encoding, done) {
          logs.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    // A port nothing listens on.
    const cache = redisProductCache({ url: 'redis://127.0.0.1:1', logger, timeoutMs: 100 });
    const definition = productSearchSubgraph(store, 'USD', { cache, logger });
    await seedCatalog(definition.service, fixtureShop(fixture));
    server = await serveTestSubgraph(definition, deps);
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  it('answers from the store, and logs the outage once rather than per request', async () => {
    const admin = await deps.bearer('admin-1', ['customer', 'admin'] as Scope[]);
    for (const p of fixture.products.slice(0, 5)) {
      const before = store.catalog.statementCount();
      const res = await server.query(PRODUCT, { id: p.id });
      expect(res).toEqual({ data: { product: { id: p.id, name: p.name, price: { amount: p.priceAmount } } } });
      expect(store.catalog.statementCount() - before).toBe(1);
    }
    const p = fixture.products[0]!;
    const updated = await server.query(UPDATE, { id: p.id, input: { name: 'Still Writable' } }, admin);
    expect(updated).toEqual({ data: { updateProduct: { id: p.id, name: 'Still Writable' } } });
    expect((await server.query(PRODUCT, { id: p.id })).data!.product.name).toBe('Still Writable');
    expect(logs.filter((l) => /product cache is not answering/.test(l.msg))).toHaveLength(1);
  });

  it('stays ready: the store answers', async () => {
    const res = await fetch(server.url.replace(/\/graphql$/, '/ready'));
    expect(res.status).toBe(200);
  });
});
