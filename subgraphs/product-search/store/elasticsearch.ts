/**
 * Product search on Elasticsearch 8, through an alias (PRODUCT_ELASTICSEARCH_INDEX) that
 * points at one index `<alias>-<timestamp>-<suffix>` built with the definition of
 * `elasticsearch-query.ts`. Searches and writes go through the alias, so an index can be
 * rebuilt beside the one in use and swapped in at once (`npm run reindex`).
 *
 * Writes are the catalog's index outbox delivering products: at least once, possibly
 * repeated or out of order. Each product is written with its catalog version as an
 * external version, so the index keeps the newest copy whatever the order. An archived
 * product is written as a document marked archived, which no query matches, rather than
 * deleted: a delete leaves a version behind for only a minute (`index.gc_deletes`), after
 * which a late copy of an older version would bring the product back.
 *
 * Rebuilding without losing writes: while an index is built it also holds a second alias,
 * `<alias>-building`, and every write made while that alias exists goes through both. A
 * write committed to the catalog before the building alias appeared is read from the
 * catalog by the rebuild, which starts copying after the alias appears; one delivered
 * after it is written to both indexes. Versions make either order safe. The swap then
 * moves the alias and drops the building alias in one atomic `updateAliases`.
 */
import { randomBytes } from 'node:crypto';
import { Client, errors } from '@elastic/elasticsearch';
import type { Logger } from '../../../platform/logger';
import type { ProductCatalog, ProductRecord, ProductSearchIndex } from './port';
import {
  buildingAlias,
  bulkError,
  bulkFailures,
  bulkOperations,
  definitionDigest,
  indexDefinition,
  nameWrite,
  newIndexName,
  productWrite,
  readSearchPage,
  readSuggestions,
  searchRequest,
  suggestionSearches,
  type DocumentWrite,
  type FacetAggregates,
} from './elasticsearch-query';

/** Documents per bulk request: a few MB at most with the longest descriptions. */
const BULK_CHUNK = 500;
/** Products read from the catalog per page while rebuilding; default of `RebuildOptions.pageSize`. */
const REBUILD_PAGE_SIZE = 500;
/** How long a replaced index is kept for searches already running on it, in ms; default of `RebuildOptions.oldIndexGraceMs`. */
const OLD_INDEX_GRACE_MS = 10_000;
/** How long a process starting beside another that builds the first index waits for it, in ms. */
const FIRST_BUILD_WAIT_MS = 10 * 60_000;

export interface ElasticsearchIndexOptions {
  /** The cluster (PRODUCT_ELASTICSEARCH_URL); credentials may be in the URL. */
  url: string;
  /** The alias searched and written through (PRODUCT_ELASTICSEARCH_INDEX). */
  alias: string;
  /** How long one request may take before it fails, in ms (STORE_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  logger: Logger;
  /**
   * The catalog the index is built from when the alias does not exist yet, and where the
   * names of categories and brands (suggested by predictive search) are read from.
   */
  catalog: ProductCatalog;
  /**
   * When writes become searchable: `false` at the cluster's next refresh (about a second;
   * default), `'wait_for'` before `indexProducts` resolves (tests).
   */
  refresh?: false | 'wait_for';
}

export interface RebuildOptions {
  /** Stops the rebuild, which then removes the index it was building. */
  signal?: AbortSignal;
  /** Products read from the catalog per page; default 500. */
  pageSize?: number;
  /** How long the replaced index is kept for searches already running on it, in ms; default 10000. */
  oldIndexGraceMs?: number;
}

/** What a rebuild did. */
export interface RebuildReport {
  /** The index the alias now points at. */
  index: string;
  /** Indexes it replaced (deleted once the grace period passed); none for a first build. */
  replaced: string[];
  /** Products copied from the catalog. */
  products: number;
  /** Categories and brands copied. */
  names: number;
}

/** Product search on Elasticsearch, which can also rebuild its index from the catalog. */
export interface ElasticsearchProductIndex extends ProductSearchIndex {
  /** Builds a new index from the catalog and swaps the alias to it; searches are answered throughout. */
  rebuild(options?: RebuildOptions): Promise<RebuildReport>;
}

/** A rebuild refused because another one is running (its building alias exists). */
export class RebuildRunningError extends Error {
  constructor(readonly building: string, readonly indexes: readonly string[]) {
    super(
      `another rebuild is building ${indexes.join(', ') || building}; if none is running, delete that index and try again`,
    );
    this.name = 'RebuildRunningError';
  }
}

/**
 * A client for the cluster. One retry, after the client's backoff of 1 to 2 s, rides out a
 * node restarting; a request to a cluster that is down fails within twice the request
 * timeout plus that backoff.
 */
export function elasticsearchClient(url: string, requestTimeoutMs: number): Client {
  return new Client({ node: url, requestTimeout: requestTimeoutMs, maxRetries: 1 });
}

interface IndexContext {
  client: Client;
  alias: string;
  catalog: ProductCatalog;
  logger: Logger;
  refresh: false | 'wait_for';
}

/** The indexes an alias points at; none when there is no such alias. */
async function aliasIndexes(client: Client, name: string): Promise<string[]> {
  try {
    return Object.keys(await client.indices.getAlias({ name }));
  } catch (error) {
    if (error instanceof errors.ResponseError && error.statusCode === 404) return [];
    throw error;
  }
}

/** Writes documents through the given aliases, in chunks; throws on any write refused but a stale version. */
async function writeDocuments(
  context: IndexContext,
  writes: readonly DocumentWrite[],
  targets: readonly string[],
  optionalTarget: string | null,
): Promise<void> {
  for (let i = 0; i < writes.length; i += BULK_CHUNK) {
    const chunk = writes.slice(i, i + BULK_CHUNK);
    // name: index-products
    const response = await context.client.bulk(
      {
        operations: bulkOperations(chunk, targets),
        // Never write to an index by a name that no longer exists: the cluster would create it.
        require_alias: true,
        refresh: context.refresh,
      },
      { opaqueId: 'index-products' },
    );
    if (!response.errors) continue;
    const failures = bulkFailures(response, optionalTarget);
    if (failures.length > 0) throw bulkError(failures, chunk.length * targets.length);
  }
}

/** Every category and brand of the catalog as documents. */
async function nameWrites(catalog: ProductCatalog): Promise<DocumentWrite[]> {
  const [categories, brands] = await Promise.all([catalog.listCategories(), catalog.listBrands()]);
  return [...categories.map((c) => nameWrite('category', c)), ...brands.map((b) => nameWrite('brand', b))];
}

/**
 * Builds an index from the catalog beside the one in use (if any) and points the alias
 * at it; the replaced index is deleted after a grace period. Refused with
 * RebuildRunningError while another build is running.
 */
async function buildIndex(context: IndexContext, options: RebuildOptions = {}): Promise<RebuildReport> {
  const { client, alias, catalog, logger } = context;
  const building = buildingAlias(alias);
  const pageSize = options.pageSize ?? REBUILD_PAGE_SIZE;
  const running = await aliasIndexes(client, building);
  if (running.length > 0) throw new RebuildRunningError(building, running);

  const index = newIndexName(alias, new Date(), randomBytes(3).toString('hex'));
  // As the write index of the building alias: a second build creating its index at the
  // same moment is refused by the cluster (an alias has one write index at most).
  try {
    await client.indices.create({ index, ...indexDefinition(), aliases: { [building]: { is_write_index: true } } });
  } catch (error) {
    const others = await aliasIndexes(client, building);
    // A creation whose answer was lost (a timeout, or a retry after a dropped connection
    // that the cluster refused as already done) may still have made the index: then it is
    // this build's, and the build goes on with it.
    if (!others.includes(index)) {
      if (error instanceof errors.ResponseError && others.length > 0) throw new RebuildRunningError(building, others);
      throw error;
    }
  }
  logger.info({ index }, 'building a product search index from the catalog');
  let replaced: string[] = [];
  let products = 0;
  let names = 0;
  let swapping = false;
  try {
    // Should two builds ever both hold the building alias, the earlier-named one goes on.
    const holders = (await aliasIndexes(client, building)).sort();
    if (holders[0] !== index) throw new RebuildRunningError(building, holders.filter((name) => name !== index));
    const nameDocuments = await nameWrites(catalog);
    await writeDocuments(context, nameDocuments, [building], null);
    names = nameDocuments.length;
    for (let after: string | null = null; ; ) {
      options.signal?.throwIfAborted();
      const page: ProductRecord[] = await catalog.productsAfter(after, pageSize);
      if (page.length === 0) break;
      await writeDocuments(context, page.map(productWrite), [building], null);
      products += page.length;
      after = page.at(-1)!.id;
      if (products % (pageSize * 20) === 0) logger.info({ index, products }, 'copying products');
    }
    options.signal?.throwIfAborted();
    // Everything copied is searchable the moment the alias points here.
    await client.indices.refresh({ index });
    replaced = await aliasIndexes(client, alias);
    // One atomic change: searches and writes move from the old index to the new one together.
    swapping = true;
    // name: swap-product-index
    await client.indices.updateAliases({
      actions: [
        ...replaced.map((old) => ({ remove: { index: old, alias, must_exist: true } })),
        { add: { index, alias, is_write_index: true } },
        { remove: { index, alias: building } },
      ],
    });
  } catch (error) {
    // The swap is atomic but its answer can be lost (a timeout, or a retry after a dropped
    // connection refused because the old index no longer holds the alias): when the alias
    // points here the swap took place, and this index is the one searched and written.
    const swapped = swapping
      ? await aliasIndexes(client, alias).then((current) => current.includes(index), () => null)
      : false;
    if (swapped === null) {
      logger.warn(
        { err: error, index },
        'could not tell whether the alias was swapped to the new index; if it was not, delete that index by hand',
      );
      throw error;
    }
    if (!swapped) {
      await client.indices.delete({ index }, { ignore: [404] }).catch((err: unknown) => {
        logger.warn({ err, index }, 'could not delete the index of a failed build; delete it by hand');
      });
      throw error;
    }
    logger.warn({ err: error, index }, 'the alias swap answered with an error but took place');
  }
  logger.info({ index, replaced, products, names }, 'product search index swapped in');
  if (replaced.length > 0) {
    // Searches that began on the old index before the swap finish on it.
    await new Promise((resolve) => setTimeout(resolve, options.oldIndexGraceMs ?? OLD_INDEX_GRACE_MS));
    await client.indices.delete({ index: replaced }, { ignore: [404] });
  }
  return { index, replaced, products, names };
}

/**
 * Makes sure the alias exists: builds the first index from the catalog when it does not
 * (waiting instead when another process is building it), and warns when the index in use
 * was built by another definition than this code's.
 */
async function ensureIndex(context: IndexContext): Promise<void> {
  const { client, alias, logger } = context;
  if (await client.indices.existsAlias({ name: alias })) {
    const mappings = await client.indices.getMapping({ index: alias });
    const digest = definitionDigest();
    const stale = Object.entries(mappings).filter(([, m]) => m.mappings._meta?.definition !== digest);
    if (stale.length > 0) {
      const indexes = stale.map(([name]) => name);
      logger.warn({ alias, indexes }, 'the product search index was built by another definition; run `npm run reindex`');
    }
    return;
  }
  try {
    await buildIndex(context);
  } catch (error) {
    if (!(error instanceof RebuildRunningError)) throw error;
    logger.info({ alias }, 'another process is building the first product search index; waiting for it');
    const deadline = Date.now() + FIRST_BUILD_WAIT_MS;
    while (!(await client.indices.existsAlias({ name: alias }))) {
      if (Date.now() > deadline) throw new Error(`the product search alias ${alias} did not appear while another process built it`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/**
 * Opens product search on Elasticsearch, creating the index from the catalog when the
 * alias does not exist yet. Fails when the cluster cannot be reached.
 */
export async function openElasticsearchIndex(options: ElasticsearchIndexOptions): Promise<ElasticsearchProductIndex> {
  const client = elasticsearchClient(options.url, options.requestTimeoutMs);
  let statements = 0;
  client.diagnostic.on('request', () => {
    statements += 1;
  });
  const logger = options.logger.child({ store: 'elasticsearch', alias: options.alias });
  const context: IndexContext = { client, alias: options.alias, catalog: options.catalog, logger, refresh: options.refresh ?? false };
  const building = buildingAlias(options.alias);
  /** Categories and brands written by this process, by `kind:id`, with the name written. */
  const namesWritten = new Map<string, string>();
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= client.close());

  try {
    await ensureIndex(context);
  } catch (error) {
    await close();
    throw error;
  }

  /**
   * The categories and brands to write with these products: none while every one they name
   * has been written; otherwise every category and brand of the catalog not yet written as
   * it is now (new ones, renamed ones, and those without products).
   */
  async function namesToWrite(products: readonly ProductRecord[]): Promise<DocumentWrite[]> {
    const known = products.every((p) => namesWritten.has(`category:${p.categoryId}`) && namesWritten.has(`brand:${p.brandId}`));
    if (known) return [];
    return (await nameWrites(options.catalog)).filter(
      ({ document }) => namesWritten.get(`${document.kind}:${document.id}`) !== document.name,
    );
  }

  return {
    ready: async () => {
      try {
        return await client.ping();
      } catch {
        return false;
      }
    },
    close,
    statementCount: () => statements,

    async search(query) {
      // name: search-products
      const response = await client.search<unknown, FacetAggregates>(searchRequest(query, options.alias), { opaqueId: 'search-products' });
      return readSearchPage(query, response);
    },

    async suggest(query) {
      const searches = suggestionSearches(query);
      // name: predictive-search
      const response = await client.msearch(
        { index: options.alias, searches: searches.flatMap((search) => [{}, search.body]) },
        { opaqueId: 'predictive-search' },
      );
      return readSuggestions(query, searches, response.responses);
    },

    async indexProducts(products) {
      if (products.length === 0) return;
      const names = await namesToWrite(products);
      // While an index is being built, every write goes to it too (see the top of this file).
      const rebuilding = await client.indices.existsAlias({ name: building });
      const targets = rebuilding ? [options.alias, building] : [options.alias];
      await writeDocuments(context, [...names, ...products.map(productWrite)], targets, rebuilding ? building : null);
      for (const { document } of names) namesWritten.set(`${document.kind}:${document.id}`, document.name);
    },

    rebuild: (rebuildOptions) => buildIndex(context, rebuildOptions),
  };
}

/** Options of `rebuildElasticsearchIndex`: where the index is, and the catalog it is built from. */
export type RebuildIndexOptions = Omit<ElasticsearchIndexOptions, 'refresh'> & RebuildOptions;

/**
 * Rebuilds the product search index from the catalog (what `npm run reindex` runs): a new
 * index with the current definition, the alias swapped to it, the old one deleted. The
 * first index is built when there is none.
 */
export async function rebuildElasticsearchIndex(options: RebuildIndexOptions): Promise<RebuildReport> {
  const client = elasticsearchClient(options.url, options.requestTimeoutMs);
  try {
    const logger = options.logger.child({ store: 'elasticsearch', alias: options.alias });
    return await buildIndex({ client, alias: options.alias, catalog: options.catalog, logger, refresh: false }, options);
  } finally {
    await client.close();
  }
}
