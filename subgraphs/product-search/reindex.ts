/**
 * `npm run reindex`: rebuilds the product search index on Elasticsearch from the catalog.
 * A new index `<alias>-<timestamp>-<suffix>` is built with the current analysis and mapping
 * from every product, category and brand of the catalog; the alias
 * (PRODUCT_ELASTICSEARCH_INDEX) is then swapped to it in one atomic change, and the old
 * index deleted. Searches are answered from the old index until the swap, and products
 * written meanwhile reach the new index too (see `store/elasticsearch.ts`).
 *
 * Reads the same configuration as the product-search subgraph: PRODUCT_ELASTICSEARCH_URL,
 * and the catalog's store (PRODUCT_MONGODB_URL or PRODUCT_SEARCH_DATABASE_URL). Run it
 * while the subgraph serves; SIGINT or SIGTERM stops it, and the index it was building is
 * removed. Exits 0 once the alias points at the new index, 1 on any failure.
 */
import { ConfigError, loadConfig, type Config } from '../../platform/config';
import { createLogger } from '../../platform/logger';
import { subgraphDeps } from '../../platform/main';
import { rebuildElasticsearchIndex } from './store/elasticsearch';
import { openSeparateCatalog } from './subgraph';

async function reindex(config: Config & { PRODUCT_ELASTICSEARCH_URL: string }): Promise<void> {
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.logPretty }).child({ process: 'reindex' });
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    logger.warn({ signal }, 'stopping the rebuild');
    stop.abort(new Error(`stopped by ${signal}`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const deps = await subgraphDeps(config, logger);
  try {
    // The catalog alone: opening the index would build one first when the alias is missing.
    const catalog = await openSeparateCatalog(deps);
    try {
      const started = Date.now();
      const report = await rebuildElasticsearchIndex({
        url: config.PRODUCT_ELASTICSEARCH_URL,
        alias: config.PRODUCT_ELASTICSEARCH_INDEX,
        requestTimeoutMs: config.STORE_REQUEST_TIMEOUT_MS,
        logger,
        catalog,
        signal: stop.signal,
      });
      logger.info({ ...report, seconds: (Date.now() - started) / 1000 }, 'product search index rebuilt');
    } finally {
      await catalog.close();
    }
  } finally {
    await deps.release();
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`reindex: ${error.message}\n`);
    process.exit(1);
  }
  const url = config.PRODUCT_ELASTICSEARCH_URL;
  if (!url) {
    process.stderr.write(
      'reindex: PRODUCT_ELASTICSEARCH_URL is not set; without it search reads the catalog itself and has no index to rebuild.\n',
    );
    process.exit(1);
  }
  try {
    await reindex({ ...config, PRODUCT_ELASTICSEARCH_URL: url });
    process.exit(0);
  } catch (error) {
    process.stderr.write(`reindex: failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

void main();
