import { createServer, type Socket } from 'node:net';
import { Client } from '@elastic/elasticsearch';
import { silentLogger } from '../../../platform/logger';
import { isStoreUnavailable } from '../../../platform/store-unavailable';
import { elasticsearchAvailable, TEST_ELASTICSEARCH_URL } from '../../../platform/testing';
import { buildPredictiveQuery } from '../predictive-query';
import { parseSearchText, priceBands } from '../search-query';
import { openElasticsearchIndex, rebuildElasticsearchIndex, RebuildRunningError, type ElasticsearchProductIndex } from '../store/elasticsearch';
import { buildingAlias, definitionDigest } from '../store/elasticsearch-query';
import type { ProductCatalog, ProductRecord, SearchQuery } from '../store/port';
import { catalogFixture } from './catalog-fixture';
import { dropAliasIndexes, openTestCatalog, openTestIndex, testAlias } from './elasticsearch-fixture';

const fixture = catalogFixture(40);
let catalog: ProductCatalog;
let releaseCatalog: () => Promise<void>;

beforeAll(async () => {
  ({ catalog, release: releaseCatalog } = await openTestCatalog());
  await catalog.insertCatalog({ ...fixture, products: fixture.products.map((p) => ({ ...p, currency: 'USD' })) });
});
afterAll(() => releaseCatalog());

/** A search for `text` (every product without), 100 hits at most. */
function searchFor(text?: string): SearchQuery {
  return {
    text: text === undefined ? null : parseSearchText(text),
    filter: { categoryIds: [], brandIds: [], minPrice: null, maxPrice: null },
    sort: text === undefined ? 'NAME_ASC' : 'RELEVANCE',
    limit: 100,
    after: null,
    priceBands: priceBands('USD'),
  };
}

/** A local port that refuses connections, or (`silent`) accepts them and never answers. */
async function localPort(silent: boolean): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  if (!silent) await close();
  return { url: `http://127.0.0.1:${port}`, close };
}

describe('product search on Elasticsearch when the cluster cannot be reached', () => {
  const open = (url: string, requestTimeoutMs: number) =>
    openElasticsearchIndex({ url, alias: testAlias(), requestTimeoutMs, logger: silentLogger(), catalog });

  it('fails to open with an error answered as SERVICE_UNAVAILABLE, after one retry', async () => {
    const refused = await localPort(false);
    const started = Date.now();
    const error = await open(refused.url, 5000).catch((e: unknown) => e);
    expect(isStoreUnavailable(error)).toBe(true);
    // The client's backoff before its retry is 1 to 2 s; the connections are refused at once.
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('gives up on a cluster that does not answer, within its request timeout', async () => {
    const silent = await localPort(true);
    try {
      const started = Date.now();
      const error = await open(silent.url, 300).catch((e: unknown) => e);
      expect(isStoreUnavailable(error)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  });
});

if (elasticsearchAvailable()) {
  describe('product search on Elasticsearch', () => {
    const url = TEST_ELASTICSEARCH_URL!;
    const admin = new Client({ node: url });
    let alias: string;
    let index: ElasticsearchProductIndex;

    const aliasIndexes = async (name: string) => {
      try {
        return Object.keys(await admin.indices.getAlias({ name }));
      } catch {
        return [];
      }
    };
    const product = async (id: string): Promise<ProductRecord> => (await catalog.productsByIds([id]))[0]!;
    const found = async (text: string) => (await index.search(searchFor(text))).hits.map((hit) => hit.id);
    const suggested = async (text: string) => index.suggest(buildPredictiveQuery({ query: text, first: 20 }).query!);

    beforeEach(async () => {
      alias = testAlias();
      index = await openTestIndex(url, alias, catalog);
    });
    afterEach(async () => {
      await index.close();
      await dropAliasIndexes(url, alias);
    });
    afterAll(() => admin.close());

    it('builds the first index from the catalog when the alias is new, with this definition', async () => {
      const [name] = await aliasIndexes(alias);
      expect(name).toMatch(new RegExp(`^${alias}-\\d{17}-[0-9a-f]{6}$`));
      const mappings = await admin.indices.getMapping({ index: alias });
      expect(mappings[name!]!.mappings._meta).toEqual({ definition: definitionDigest() });
      expect((await index.search(searchFor())).totalCount).toBe(40);
      // Categories and brands come from the catalog, those without products too.
      expect((await suggested('rug')).categoryIds).toEqual(['cat-rugs']);
      expect((await suggested('vac')).brandIds).toEqual(['brand-vacant']);
    });

    it('keeps the newest copy of a product whatever order copies arrive in, and a repeat changes nothing', async () => {
      const base = await product(fixture.products[5]!.id);
      const newer = { ...base, name: 'Zeppelin Recliner', version: 3 };
      const older = { ...base, name: 'Quokka Ottoman', version: 2 };
      await index.indexProducts([newer]);
      await index.indexProducts([older]);
      await index.indexProducts([newer, older]);
      expect(await found('zeppelin')).toEqual([base.id]);
      expect(await found('quokka')).toEqual([]);
    });

    it('takes an archived product out of search and suggestions for good, whatever arrives late', async () => {
      const base = await product(fixture.products[0]!.id);
      await index.indexProducts([{ ...base, archivedAt: new Date(), version: 5 }]);
      // An older copy, still on sale, delivered late.
      await index.indexProducts([{ ...base, version: 4 }]);
      const all = await index.search(searchFor());
      expect(all.totalCount).toBe(39);
      expect(all.hits.map((hit) => hit.id)).not.toContain(base.id);
      expect(await found(base.name)).not.toContain(base.id);
      expect((await suggested(base.name)).productIds).not.toContain(base.id);
    });

    it('answers searches and keeps writes made while it rebuilds, then swaps the alias and drops the old index', async () => {
      const [old] = await aliasIndexes(alias);
      let reachCopy!: () => void;
      let resumeCopy!: () => void;
      const copying = new Promise<void>((resolve) => (reachCopy = resolve));
      const resumed = new Promise<void>((resolve) => (resumeCopy = resolve));
      // The catalog as the rebuild reads it: the copy waits until the test has written.
      const paused: ProductCatalog = {
        ...catalog,
        productsAfter: async (after, limit) => {
          reachCopy();
          await resumed;
          return catalog.productsAfter(after, limit);
        },
      };
      const rebuilding = rebuildElasticsearchIndex({ url, alias, requestTimeoutMs: 30_000, logger: silentLogger(), catalog: paused, oldIndexGraceMs: 0 });
      await copying;
      expect(await aliasIndexes(buildingAlias(alias))).toHaveLength(1);
      expect((await index.search(searchFor())).totalCount).toBe(40);
      // Written while the new index is being built: written to both.
      const changed = await catalog.updateProduct(fixture.products[10]!.id, { name: 'Wombat Lamp' });
      if (!changed || 'kind' in changed) throw new Error('not updated');
      await index.indexProducts([changed]);
      resumeCopy();
      const report = await rebuilding;

      expect(report).toMatchObject({ replaced: [old], products: 40, names: fixture.categories.length + fixture.brands.length });
      expect(await aliasIndexes(alias)).toEqual([report.index]);
      expect(await aliasIndexes(buildingAlias(alias))).toEqual([]);
      expect(await admin.indices.exists({ index: old! })).toBe(false);
      expect(await found('wombat')).toEqual([changed.id]);
      expect((await index.search(searchFor())).totalCount).toBe(40);
    });

    it('refuses a second rebuild while one runs, and removes the index of a rebuild that is stopped', async () => {
      const [old] = await aliasIndexes(alias);
      let resumeCopy!: () => void;
      const resumed = new Promise<void>((resolve) => (resumeCopy = resolve));
      let reachCopy!: () => void;
      const copying = new Promise<void>((resolve) => (reachCopy = resolve));
      const paused: ProductCatalog = {
        ...catalog,
        productsAfter: async (after, limit) => {
          reachCopy();
          await resumed;
          return catalog.productsAfter(after, limit);
        },
      };
      const stop = new AbortController();
      const first = index.rebuild({ signal: stop.signal, oldIndexGraceMs: 0 }).catch((e: unknown) => e);
      const pausedRebuild = rebuildElasticsearchIndex({ url, alias, requestTimeoutMs: 30_000, logger: silentLogger(), catalog: paused, signal: stop.signal });
      // Whichever of the two created its index first runs; the other is refused.
      const outcomes = await Promise.race([
        pausedRebuild.then(() => 'finished', (e: unknown) => e),
        copying.then(() => 'copying'),
      ]);
      if (outcomes === 'copying') {
        expect(await first).toBeInstanceOf(RebuildRunningError);
        stop.abort();
        resumeCopy();
        await expect(pausedRebuild).rejects.toThrow();
      } else {
        expect(outcomes).toBeInstanceOf(RebuildRunningError);
        resumeCopy();
        await first;
      }
      expect(await aliasIndexes(buildingAlias(alias))).toEqual([]);
      const indexes = Object.keys(await admin.indices.get({ index: `${alias}-*` }));
      expect(indexes).toHaveLength(1);
      expect(await aliasIndexes(alias)).toEqual(indexes);
      if (outcomes === 'copying') expect(indexes).toEqual([old]);
    });

    it('keeps the index of an existing alias when it opens', async () => {
      const [before] = await aliasIndexes(alias);
      const again = await openTestIndex(url, alias, catalog);
      await again.close();
      expect(await aliasIndexes(alias)).toEqual([before]);
    });

    it('counts the requests it sends, answers ready while open, and closes once', async () => {
      const before = index.statementCount();
      await index.search(searchFor('chair'));
      await index.suggest(buildPredictiveQuery({ query: 'cha' }).query!);
      expect(index.statementCount()).toBe(before + 2);
      expect(await index.ready()).toBe(true);
      await index.close();
      await index.close();
      expect(await index.ready()).toBe(false);
    });
  });
}
