/** Test fixtures built by code: a real product-search catalog to price from, and outbox readers. */
import { asc, eq } from 'drizzle-orm';
import type { DemoProduct, DemoShop } from '../../../platform/demo-shop-types';
import type { EventType } from '../../../platform/events';
import { serveTestSubgraph, type TestDeps } from '../../../platform/testing';
import { seedCatalog } from '../../product-search/seed';
import { openCatalogStore, productSearchSubgraph } from '../../product-search/subgraph';
import type { OrderStore } from '../store/port';

/** A UUID-shaped product id that sorts by `n`. */
export function productId(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

/** Products for a catalog: `n` gets id productId(n), name `Product n` and the given price in cents. */
export function catalogProducts(prices: readonly number[]): DemoProduct[] {
  return prices.map((priceAmount, n) => ({
    id: productId(n),
    sku: `SKU-${n}`,
    name: `Product ${n}`,
    description: '',
    priceAmount,
    categoryId: 'cat-things',
    brandId: 'brand-acme',
    createdAt: new Date(Date.UTC(2024, 0, 1, 0, n)),
  }));
}

/**
 * Starts the real product-search subgraph on a free port with these products (written by its
 * own seed) and points the order subgraph's peer directory at it.
 */
export async function startCatalog(deps: TestDeps, products: DemoProduct[]) {
  const store = await openCatalogStore(deps);
  const definition = productSearchSubgraph(store, deps.config.SHOP_CURRENCY);
  const shop: DemoShop = {
    currency: deps.config.SHOP_CURRENCY,
    categories: [{ id: 'cat-things', slug: 'things', name: 'Things', description: 'Everything.' }],
    brands: [{ id: 'brand-acme', slug: 'acme', name: 'Acme' }],
    products,
    warehouses: [],
    stock: [],
    customers: [],
    orders: [],
  };
  if (!(await seedCatalog(definition.service, shop))) throw new Error('the test catalog was not empty');
  const server = await serveTestSubgraph(definition, deps);
  deps.peers.set('product-search', server.url);
  return server;
}

/** Outbox rows of one order (or all), oldest first, published or not. */
export async function outboxEvents(store: OrderStore, aggregateId?: string, type?: EventType) {
  const { database, tables } = store.outbox;
  // test-outbox-rows
  const rows = await database.db
    .select()
    .from(tables.outbox)
    .where(aggregateId ? eq(tables.outbox.aggregateId, aggregateId) : undefined)
    .orderBy(asc(tables.outbox.seq));
  return rows.filter((row) => !type || row.type === type);
}
