/**
 * The catalog's index outbox delivered by the relay to a search index kept apart from the
 * catalog, on the PostgreSQL catalog (PGlite and a server). The index is the real PostgreSQL
 * one, recording what is delivered to it and keeping, per product, the copy of the highest
 * version (what the port asks of every index), and failing on demand.
 */
import type { Scope } from '../../../platform/auth';
import { silentLogger } from '../../../platform/logger';
import { serveTestSubgraph, sleep, storeBackends, testDeps, type TestDeps } from '../../../platform/testing';
import { CatalogIndexRelay } from '../index-relay';
import type { ProductCatalog, ProductRecord, ProductSearchIndex } from '../store/port';
import { postgresProductCatalog, postgresSearchIndex } from '../store/postgres';
import { openCatalogDatabase, productSearchSubgraph, separateCatalogStore } from '../subgraph';
import { parseSearchText, priceBands } from '../search-query';
import { catalogFixture } from './catalog-fixture';

const fixture = catalogFixture(40);

/** The PostgreSQL index, fed as a separate index would be: deliveries recorded, newest copy per product kept. */
class RecordingIndex implements ProductSearchIndex {
  readonly deliveries: ProductRecord[][] = [];
  /** Per product, the copy of the highest version delivered. */
  readonly held = new Map<string, ProductRecord>();
  /** Deliveries still to refuse, as an index that is down would. */
  failNext = 0;
  attempts = 0;

  constructor(private readonly real: ProductSearchIndex) {}

  search: ProductSearchIndex['search'] = (query) => this.real.search(query);
  suggest: ProductSearchIndex['suggest'] = (query) => this.real.suggest(query);
  ready = () => this.real.ready();
  close = () => this.real.close();
  statementCount = () => this.real.statementCount();

  async indexProducts(products: readonly ProductRecord[]): Promise<void> {
    this.attempts += 1;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('search index unavailable');
    }
    await this.real.indexProducts(products);
    this.deliveries.push([...products]);
    for (const product of products) {
      const held = this.held.get(product.id);
      if (!held || held.version < product.version) this.held.set(product.id, product);
    }
  }
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function written<T extends object>(result: T | null): Exclude<T, { kind: string }> {
  if (result === null || 'kind' in result) throw new Error(`not written: ${JSON.stringify(result)}`);
  return result as Exclude<T, { kind: string }>;
}

describe.each(storeBackends())('catalog index relay on %s', (backend) => {
  let deps: TestDeps;
  let catalog: ProductCatalog;
  let real: ProductSearchIndex;
  let index: RecordingIndex;
  const relays: CatalogIndexRelay[] = [];

  const relay = (options: Partial<ConstructorParameters<typeof CatalogIndexRelay>[0]> = {}) => {
    const made = new CatalogIndexRelay({ outbox: catalog, index, logger: silentLogger(), ...options });
    relays.push(made);
    return made;
  };

  beforeAll(async () => {
    deps = await testDeps(backend, ['product-search']);
    const database = await openCatalogDatabase(deps);
    catalog = postgresProductCatalog(database, { indexOutbox: true });
    real = postgresSearchIndex(database);
    await catalog.insertCatalog({ ...fixture, products: fixture.products.map((p) => ({ ...p, currency: 'USD' })) });
  });
  beforeEach(() => {
    index = new RecordingIndex(real);
  });
  afterEach(async () => {
    for (const made of relays.splice(0)) await made.stop();
  });
  afterAll(async () => {
    await catalog?.close();
    await deps?.release();
  });

  it('delivers an import in batches, each product once, and leaves nothing waiting', async () => {
    expect(await relay({ batchSize: 7 }).flush()).toBe(40);
    expect(index.deliveries.map((batch) => batch.length)).toEqual([7, 7, 7, 7, 7, 5]);
    expect([...index.held.keys()].sort()).toEqual(fixture.products.map((p) => p.id).sort());
    expect([...index.held.values()].every((p) => p.version === 1 && p.archivedAt === null)).toBe(true);
    expect(await catalog.pendingIndexChanges(10)).toEqual([]);
    expect(await relay().flush()).toBe(0);
  });

  it('keeps a write whose delivery failed waiting, and retries it until it lands', async () => {
    const id = fixture.products[0]!.id;
    const updated = written(await catalog.updateProduct(id, { name: 'Stubborn Chair' }));
    index.failNext = 1;
    const worker = relay({ pollMs: 10, retryMaxMs: 40 });
    await expect(worker.flush()).rejects.toThrow('search index unavailable');
    expect(await catalog.pendingIndexChanges(10)).toEqual([updated]);
    expect(index.held.has(id)).toBe(false);

    // Down for three more attempts: the running relay keeps trying on its own.
    index.failNext = 3;
    worker.start();
    await waitFor('the write to land', () => index.held.get(id)?.version === updated.version);
    expect(index.attempts).toBe(5);
    expect(index.held.get(id)).toEqual(updated);
    // Confirmed in the outbox once delivered.
    await waitFor('the outbox to empty', async () => (await catalog.pendingIndexChanges(10)).length === 0);
  });

  it('a write while a batch is out is delivered after it; a late copy of the older version changes nothing', async () => {
    const id = fixture.products[1]!.id;
    written(await catalog.updateProduct(id, { name: 'Wombat Chair' }));
    // A relay (another replica) reads the product, and is slow to deliver it.
    const stale = await catalog.pendingIndexChanges(10);
    expect(stale.map((p) => p.id)).toEqual([id]);
    const newer = written(await catalog.updateProduct(id, { name: 'Numbat Chair' }));
    await index.indexProducts(stale);
    await catalog.markIndexed(stale.map((p) => ({ id: p.id, version: p.version })));
    // What it confirmed was older than the write since: the newer one still waits, and goes out.
    expect(await catalog.pendingIndexChanges(10)).toEqual([newer]);
    expect(await relay().flush()).toBe(1);
    // The slow replica delivers its copy once more (a retry after a lost answer).
    await index.indexProducts(stale);
    expect(index.held.get(id)).toEqual(newer);
    expect(await catalog.pendingIndexChanges(10)).toEqual([]);
    const hits = await index.search({
      text: parseSearchText('numbat'),
      filter: { categoryIds: [], brandIds: [], minPrice: null, maxPrice: null },
      sort: 'RELEVANCE',
      limit: 10,
      after: null,
      priceBands: priceBands('USD'),
    });
    expect(hits.hits.map((h) => h.id)).toEqual([id]);
  });

  it('delivers nothing once stopped', async () => {
    const worker = relay({ pollMs: 10 });
    worker.start();
    await worker.stop();
    written(await catalog.updateProduct(fixture.products[2]!.id, { name: 'Quiet Chair' }));
    worker.notify();
    await sleep(100);
    expect(index.deliveries).toEqual([]);
    expect(await relay().flush()).toBe(1);
  });
});

describe.each(storeBackends())('product-search with a separate index on %s', (backend) => {
  let deps: TestDeps;
  let index: RecordingIndex;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let admin: string;

  beforeAll(async () => {
    deps = await testDeps(backend, ['product-search']);
    const database = await openCatalogDatabase(deps);
    index = new RecordingIndex(postgresSearchIndex(database));
    const store = separateCatalogStore(postgresProductCatalog(database, { indexOutbox: true }), index);
    const definition = productSearchSubgraph(store, 'USD', { indexRelayPollMs: 20 });
    expect(definition.indexRelay).toBeDefined();
    await definition.service.importCatalog({ currency: 'USD', ...fixture });
    server = await serveTestSubgraph(definition, deps);
    admin = await deps.bearer('admin-1', ['customer', 'admin'] as Scope[]);
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  it('delivers the seeded catalog once the relay starts', async () => {
    await waitFor('the import to reach the index', () => index.held.size === fixture.products.length);
  });

  it('delivers a created and then archived product as soon as each is written', async () => {
    const created = await server.query(
      'mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }',
      { input: { sku: 'RELAY-1', name: 'Relay Lamp', description: '', price: 1_500, categoryId: 'cat-lamps', brandId: 'brand-lumen' } },
      admin,
    );
    expect(created.errors).toBeUndefined();
    const id: string = created.data!.createProduct.id;
    await waitFor('the new product to reach the index', () => index.held.get(id)?.version === 1, 2000);

    const archived = await server.query('mutation($id: ID!) { archiveProduct(id: $id) { archived } }', { id }, admin);
    expect(archived.data!.archiveProduct).toEqual({ archived: true });
    await waitFor('the archive to reach the index', () => index.held.get(id)?.archivedAt instanceof Date, 2000);
    expect(index.held.get(id)!.version).toBe(2);
  });
});
