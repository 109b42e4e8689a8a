import { sql, type SQL } from 'drizzle-orm';
import { char, check, customType, index, integer, pgSchema, text, timestamp, type AnyPgColumn } from 'drizzle-orm/pg-core';

/** Product search owns this schema; no other subgraph reads it. */
export const catalog = pgSchema('catalog');

/** PostgreSQL's full-text document type; only the database reads and writes it. */
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

export const categories = catalog.table('categories', {
  id: text('id').primaryKey(),
  slug: text('slug').notNull().unique(),
  name: text('name').notNull(),
  description: text('description').notNull().default(''),
});

export const brands = catalog.table('brands', {
  id: text('id').primaryKey(),
  slug: text('slug').notNull().unique(),
  name: text('name').notNull(),
});

/**
 * The sort key of NAME_ASC: lower-cased and compared byte-wise, so the order is the
 * same on every server whatever its default collation (and matches a keyword sort).
 */
export function nameSortKey(name: AnyPgColumn): SQL {
  return sql`lower(${name}) collate "C"`;
}

export const products = catalog.table(
  'products',
  {
    id: text('id').primaryKey(),
    sku: text('sku').notNull().unique(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    priceAmount: integer('price_amount').notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    categoryId: text('category_id')
      .notNull()
      .references(() => categories.id),
    brandId: text('brand_id')
      .notNull()
      .references(() => brands.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    // One more on every write: a search index kept apart keeps the copy with the higher one.
    version: integer('version').notNull().default(1),
    // Set once when the product stops being sold; search and suggestions leave it out.
    archivedAt: timestamp('archived_at', { withTimezone: true }),
    // Kept by the database on every write, so no code path can forget to reindex a row.
    // Name words weigh more than description words in the ranking (A over C).
    search: tsvector('search')
      .notNull()
      .generatedAlwaysAs(
        sql`setweight(to_tsvector('english', name), 'A') || setweight(to_tsvector('english', coalesce(description, '')), 'C')`,
      ),
  },
  (t) => [
    check('products_price_amount_non_negative', sql.raw('price_amount >= 0')),
    // The GIN indexes write each row into the index at once (no fastupdate pending list): a
    // catalog is written rarely and read on every keystroke, and a pending list of a bulk
    // import is scanned row by row by every query until a vacuum merges it.
    index('products_search_idx').using('gin', t.search).with({ fastupdate: false }),
    // Serves the typo-tolerant `<%` word-similarity match on names.
    index('products_name_trgm_idx').using('gin', t.name.op('gin_trgm_ops')).with({ fastupdate: false }),
    // Serves predictive search's word-prefix match on names (`to_tsquery('simple', 'oak:*')`);
    // without it every keystroke computes the name vector of every product.
    index('products_name_words_idx').using('gin', sql`to_tsvector('simple', ${t.name})`).with({ fastupdate: false }),
    index('products_category_idx').on(t.categoryId),
    index('products_brand_idx').on(t.brandId),
    // Keyset pages of the browse sorts (no search text) walk these in order.
    index('products_name_sort_idx').on(nameSortKey(t.name), t.id),
    index('products_price_idx').on(t.priceAmount, t.id),
    index('products_created_idx').on(t.createdAt, t.id),
  ],
);

/**
 * The index outbox: a row per product written since a search index kept apart from the
 * catalog last confirmed it, upserted in the write's own transaction. One row per product,
 * however often it is written, so the table never holds more rows than the catalog has
 * products. No foreign key: products are never deleted, and an import writes its rows in bulk.
 */
export const indexOutbox = catalog.table(
  'index_outbox',
  {
    productId: text('product_id').primaryKey(),
    /** The version the latest write made; confirming an older one leaves the row pending. */
    version: integer('version').notNull(),
    /** When the product first changed since it was last confirmed: the longest waiting go first. */
    changedAt: timestamp('changed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('index_outbox_changed_idx').on(t.changedAt, t.productId)],
);
