import { Agent, request, type Dispatcher } from 'undici';
import { ShopError } from '../../../platform/errors';
import type { Logger } from '../../../platform/logger';
import { money } from '../../../platform/money';
import type { CatalogPrice, ProductPrices } from './port';

/** Ids product-search accepts in one `products(ids:)` query. */
export const PRODUCT_IDS_PER_QUERY = 100;

export interface HttpProductPricesOptions {
  /** The product-search `/graphql` URL, read on every call so a peer that moved is followed. */
  url: () => string;
  /** How long one call may take before the catalog counts as unavailable, in ms; default 2000. */
  timeoutMs?: number;
  logger: Logger;
  /** The undici dispatcher that sends the calls; default one shared by the process, which keeps connections to a peer alive. */
  dispatcher?: Dispatcher;
}

/**
 * Connections to the catalog, kept alive between calls. undici's `request` writes the body
 * in one piece; the WHATWG `fetch` above it streamed it in corked chunks, and its machinery
 * was a tenth of the order process's CPU under checkout load.
 */
const keptAlive = new Agent({ keepAliveTimeout: 30_000, connections: 64 });

// name: product-prices
const PRICES_QUERY = 'query ProductPrices($ids: [ID!]!) { products(ids: $ids) { id name archived price { amount currency } } }';

type PricedProduct = CatalogPrice & { id: string };

interface PricesResponse {
  data?: { products?: ({ id: string; name: string; archived: boolean; price: { amount: number; currency: string } } | null)[] } | null;
  errors?: { message: string }[];
}

/** Catalog prices from the product-search subgraph, service to service (not through the router). */
export function httpProductPrices(options: HttpProductPricesOptions): ProductPrices {
  const timeoutMs = options.timeoutMs ?? 2000;
  const dispatcher = options.dispatcher ?? keptAlive;
  const unavailable = () => new ShopError('SUBGRAPH_UNAVAILABLE', 'The product catalog did not answer; try again shortly.');

  async function queryChunk(ids: string[], requestId: string | undefined): Promise<PricedProduct[]> {
    const url = options.url();
    let body: PricesResponse;
    try {
      const response = await request(url, {
        dispatcher,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) },
        body: JSON.stringify({ query: PRICES_QUERY, variables: { ids } }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (response.statusCode < 200 || response.statusCode > 299) {
        await response.body.dump();
        options.logger.error({ url, status: response.statusCode, requestId }, 'product-search answered with an HTTP error');
        throw unavailable();
      }
      body = (await response.body.json()) as PricesResponse;
    } catch (error) {
      if (error instanceof ShopError) throw error;
      options.logger.error({ err: error, url, requestId }, 'product-search did not answer');
      throw unavailable();
    }
    const products = body.data?.products;
    if (body.errors?.length || !Array.isArray(products)) {
      options.logger.error({ url, errors: body.errors, requestId }, 'product-search refused the prices query');
      throw unavailable();
    }
    const found: PricedProduct[] = [];
    for (const product of products) {
      if (!product) continue;
      if (!Number.isSafeInteger(product.price?.amount) || typeof product.price?.currency !== 'string') {
        options.logger.error({ url, productId: product.id, requestId }, 'product-search sent a price that is not integer minor units');
        throw unavailable();
      }
      if (typeof product.archived !== 'boolean') {
        options.logger.error({ url, productId: product.id, requestId }, 'product-search did not say whether a product is archived');
        throw unavailable();
      }
      found.push({ id: product.id, name: product.name, archived: product.archived, price: money(product.price.amount, product.price.currency) });
    }
    return found;
  }

  return {
    async pricesOf(productIds, context) {
      const unique = [...new Set(productIds)];
      const chunks: string[][] = [];
      for (let i = 0; i < unique.length; i += PRODUCT_IDS_PER_QUERY) chunks.push(unique.slice(i, i + PRODUCT_IDS_PER_QUERY));
      const answers = await Promise.all(chunks.map((chunk) => queryChunk(chunk, context?.requestId)));
      const prices = new Map<string, CatalogPrice>();
      for (const answer of answers) {
        for (const { id, ...price } of answer) prices.set(id, price);
      }
      return prices;
    },
  };
}
