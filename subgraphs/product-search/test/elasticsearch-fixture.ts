/**
 * Product search on a real Elasticsearch cluster for tests: each opens an alias of its own
 * beside a PGlite catalog, and every index of that alias is deleted after.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { silentLogger } from '../../../platform/logger';
import { testDeps } from '../../../platform/testing';
import { openElasticsearchIndex, type ElasticsearchProductIndex } from '../store/elasticsearch';
import type { ProductCatalog } from '../store/port';
import { postgresProductCatalog } from '../store/postgres';
import { openCatalogDatabase } from '../subgraph';

/** An alias no other test uses. */
export function testAlias(): string {
  return `test-products-${randomBytes(6).toString('hex')}`;
}

/** Deletes every index made for `alias` (the one in use and any a rebuild left), by name. */
export async function dropAliasIndexes(url: string, alias: string): Promise<void> {
  const client = new Client({ node: url });
  try {
    const indexes = Object.keys(await client.indices.get({ index: `${alias}-*`, expand_wildcards: 'all' }));
    if (indexes.length > 0) await client.indices.delete({ index: indexes }, { ignore: [404] });
  } finally {
    await client.close();
  }
}

/** A PGlite catalog recording its index outbox, as it runs beside Elasticsearch. */
export async function openTestCatalog(): Promise<{ catalog: ProductCatalog; release(): Promise<void> }> {
  const deps = await testDeps('pglite', ['product-search']);
  const catalog = postgresProductCatalog(await openCatalogDatabase(deps), { indexOutbox: true });
  return {
    catalog,
    release: async () => {
      await catalog.close();
      await deps.release();
    },
  };
}

/** Product search on `url` through a new alias, its writes searchable once `indexProducts` resolves. */
export function openTestIndex(url: string, alias: string, catalog: ProductCatalog): Promise<ElasticsearchProductIndex> {
  return openElasticsearchIndex({ url, alias, requestTimeoutMs: 30_000, logger: silentLogger(), catalog, refresh: 'wait_for' });
}

/** The contract's store: a PGlite catalog and Elasticsearch on an alias of its own, all removed on release. */
export async function openElasticsearchStore(url: string) {
  const { catalog, release } = await openTestCatalog();
  const alias = testAlias();
  const index = await openTestIndex(url, alias, catalog);
  return {
    catalog,
    index,
    release: async () => {
      await index.close();
      await dropAliasIndexes(url, alias);
      await release();
    },
  };
}
