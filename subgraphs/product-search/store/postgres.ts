import path from 'node:path';
import { and, asc, eq, gt, inArray, isNull, lte, or, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { rowsOf, type Database, type Db } from '../../../platform/db';
import { FUZZY_NAME_THRESHOLD, SORT_FIELDS, type SortFieldName } from '../search-query';
import type {
  CatalogRefusal,
  CatalogStore,
  FacetCount,
  PredictiveQuery,
  ProductCatalog,
  ProductSearchIndex,
  ProductVersionStamp,
  SearchPage,
  SearchQuery,
} from './port';
import { brands, categories, indexOutbox, nameSortKey, products } from './schema';

export const CATALOG_SCHEMA = 'catalog';
export const CATALOG_MIGRATIONS = path.join(__dirname, 'migrations');

/** Rows written per INSERT when importing: well under PostgreSQL's 65,535 parameters. */
const IMPORT_CHUNK = 500;

// Every product column but the search document, which only the database reads.
const productColumns = {
  id: products.id,
  sku: products.sku,
  name: products.name,
  description: products.description,
  priceAmount: products.priceAmount,
  currency: products.currency,
  categoryId: products.categoryId,
  brandId: products.brandId,
  createdAt: products.createdAt,
  updatedAt: products.updatedAt,
  version: products.version,
  archivedAt: products.archivedAt,
};

/** The driver error under drizzle's wrapper: postgres-js names the constraint `constraint_name`, PGlite `constraint`. */
function databaseError(error: unknown): { code?: string; constraint?: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current && typeof current === 'object'; depth += 1) {
    const e = current as { code?: unknown; constraint_name?: unknown; constraint?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
      const constraint = e.constraint_name ?? e.constraint;
      return { code: e.code, ...(typeof constraint === 'string' ? { constraint } : {}) };
    }
    current = e.cause;
  }
  return {};
}

/** A unique or foreign-key violation as the refusal it means; anything else is rethrown. */
function refusalOf(error: unknown): CatalogRefusal {
  const { code, constraint } = databaseError(error);
  if (code === '23505' && constraint === 'products_sku_unique') return { kind: 'duplicate-sku' };
  if (code === '23503' && constraint === 'products_category_id_categories_id_fk') return { kind: 'unknown-category' };
  if (code === '23503' && constraint === 'products_brand_id_brands_id_fk') return { kind: 'unknown-brand' };
  throw error;
}


function jsonOf<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/** Products not archived: the only ones search and suggestions answer. */
const onSale = isNull(products.archivedAt);

export interface PostgresCatalogOptions {
  /**
   * Record every write in the index outbox, for a search index kept apart from the catalog
   * (Elasticsearch). Default false: the PostgreSQL index reads the catalog's own rows, so
   * there is nothing to deliver, and the outbox stays empty.
   */
  indexOutbox?: boolean;
}

/** The catalog on PostgreSQL tables, the same code on PGlite and on a server. */
export function postgresProductCatalog(database: Database, options: PostgresCatalogOptions = {}): ProductCatalog {
  const { db } = database;
  const outboxOn = options.indexOutbox ?? false;

  /**
   * Records in the index outbox, inside the caller's transaction, that products were written:
   * a product already waiting keeps its place in line and takes the newer version.
   */
  async function recordIndexChanges(tx: Db, written: readonly ProductVersionStamp[]): Promise<void> {
    if (!outboxOn || written.length === 0) return;
    // name: record-index-changes
    await tx
      .insert(indexOutbox)
      .values(written.map((p) => ({ productId: p.id, version: p.version })))
      .onConflictDoUpdate({
        target: indexOutbox.productId,
        // The row already waiting is named by its table, unqualified, in ON CONFLICT's SET.
        set: { version: sql`greatest(${sql.raw('"index_outbox"."version"')}, excluded.version)` },
      });
  }

  /** Runs a write and its outbox record in one transaction; without the outbox, the write alone. */
  const writing = <T>(write: (tx: Db) => Promise<T>): Promise<T> =>
    outboxOn ? db.transaction((tx) => write(tx as unknown as Db)) : write(db);

  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,

    async productsByIds(ids) {
      if (ids.length === 0) return [];
      return db.select(productColumns).from(products).where(inArray(products.id, [...ids]));
    },

    async productsAfter(afterId, limit) {
      if (limit <= 0) return [];
      return db
        .select(productColumns)
        .from(products)
        .where(afterId === null ? undefined : gt(products.id, afterId))
        .orderBy(asc(products.id))
        .limit(limit);
    },

    async categoriesByIds(ids) {
      if (ids.length === 0) return [];
      return db.select().from(categories).where(inArray(categories.id, [...ids]));
    },

    async brandsByIds(ids) {
      if (ids.length === 0) return [];
      return db.select().from(brands).where(inArray(brands.id, [...ids]));
    },

    async listCategories() {
      return db.select().from(categories).orderBy(asc(categories.name), asc(categories.id));
    },

    async listBrands() {
      return db.select().from(brands).orderBy(asc(brands.name), asc(brands.id));
    },

    async createProduct(product) {
      try {
        return await writing(async (tx) => {
          const [row] = await tx.insert(products).values({ ...product, version: 1 }).returning(productColumns);
          await recordIndexChanges(tx, [row!]);
          return row!;
        });
      } catch (error) {
        return refusalOf(error);
      }
    },

    async updateProduct(id, changes) {
      try {
        return await writing(async (tx) => {
          const [row] = await tx
            .update(products)
            .set({ ...changes, updatedAt: sql`now()`, version: sql`${products.version} + 1` })
            .where(eq(products.id, id))
            .returning(productColumns);
          if (row) await recordIndexChanges(tx, [row]);
          return row ?? null;
        });
      } catch (error) {
        return refusalOf(error);
      }
    },

    async archiveProduct(id) {
      const archived = await writing(async (tx) => {
        // Only a product on sale is archived: archiving again changes nothing, not even its version.
        const [row] = await tx
          .update(products)
          .set({ archivedAt: sql`now()`, updatedAt: sql`now()`, version: sql`${products.version} + 1` })
          .where(and(eq(products.id, id), onSale))
          .returning(productColumns);
        if (row) await recordIndexChanges(tx, [row]);
        return row;
      });
      if (archived) return archived;
      const [existing] = await db.select(productColumns).from(products).where(eq(products.id, id));
      return existing ?? null;
    },

    async insertCatalog(data) {
      await db.transaction(async (tx) => {
        for (let i = 0; i < data.categories.length; i += IMPORT_CHUNK) {
          await tx.insert(categories).values(data.categories.slice(i, i + IMPORT_CHUNK));
        }
        for (let i = 0; i < data.brands.length; i += IMPORT_CHUNK) {
          await tx.insert(brands).values(data.brands.slice(i, i + IMPORT_CHUNK));
        }
        for (let i = 0; i < data.products.length; i += IMPORT_CHUNK) {
          const chunk = data.products.slice(i, i + IMPORT_CHUNK).map((p) => ({
            ...p,
            createdAt: p.createdAt ?? sql`now()`,
            updatedAt: p.createdAt ?? sql`now()`,
            version: 1,
            archivedAt: null,
          }));
          await tx.insert(products).values(chunk);
          await recordIndexChanges(tx as unknown as Db, chunk.map((p) => ({ id: p.id, version: 1 })));
        }
      });
      // Statistics of the imported rows, so the planner uses the search indexes from the
      // first query on rather than scanning (PGlite has no autovacuum to gather them).
      // name: analyze-imported-catalog
      await database.rows(sql`analyze ${products}, ${categories}, ${brands}`);
    },

    async isEmpty() {
      // name: catalog-is-empty
      const [row] = await database.rows<{ empty: boolean }>(sql`
        select not (exists (select 1 from ${products}) or exists (select 1 from ${categories})
          or exists (select 1 from ${brands})) as empty`);
      return row!.empty;
    },

    async pendingIndexChanges(limit) {
      if (!outboxOn || limit <= 0) return [];
      // name: pending-index-changes
      return db
        .select(productColumns)
        .from(indexOutbox)
        .innerJoin(products, eq(products.id, indexOutbox.productId))
        .orderBy(asc(indexOutbox.changedAt), asc(indexOutbox.productId))
        .limit(limit);
    },

    async markIndexed(indexed) {
      if (!outboxOn || indexed.length === 0) return;
      // name: mark-indexed: a row written again since (a higher version) stays.
      await db
        .delete(indexOutbox)
        .where(or(...indexed.map((p) => and(eq(indexOutbox.productId, p.id), lte(indexOutbox.version, p.version)))));
    },
  };
}

/**
 * Each sort field as a column of the `matched` set below, with the SQL type its
 * cursor text is read back as. Every value is exact (numeric, integers, bytes), so
 * the row a page ended on compares equal to itself on the next request.
 */
const SORT_COLUMNS: Record<SortFieldName, { column: string; cast: (value: string) => SQL }> = {
  score: { column: 'score', cast: (v) => sql`${v}::numeric` },
  name: { column: 'name_key', cast: (v) => sql`${v} collate "C"` },
  price: { column: 'price_amount', cast: (v) => sql`${v}::integer` },
  created: { column: 'created_key', cast: (v) => sql`${v}::bigint` },
};

/** `ORDER BY` of a sort, ending in the id tiebreak. */
function orderBy(query: SearchQuery): SQL {
  const terms = SORT_FIELDS[query.sort].map(({ field, direction }) =>
    sql.raw(`${SORT_COLUMNS[field].column} ${direction}`),
  );
  return sql.join([...terms, sql.raw('id asc')], sql`, `);
}

/**
 * Rows strictly after a position, for a sort of mixed directions:
 * (a > x) or (a = x and b < y) or (a = x and b = y and id > z).
 */
function seekAfter(query: SearchQuery): SQL {
  if (!query.after) return sql`true`;
  const after = query.after;
  const keys = SORT_FIELDS[query.sort].map(({ field, direction }, i) => ({
    column: sql.raw(SORT_COLUMNS[field].column),
    value: SORT_COLUMNS[field].cast(after.values[i]!),
    beyond: sql.raw(direction === 'asc' ? '>' : '<'),
  }));
  keys.push({ column: sql.raw('id'), value: sql`${after.id}`, beyond: sql.raw('>') });
  const terms = keys.map((key, i) => {
    const equal = keys.slice(0, i).map((k) => sql`${k.column} = ${k.value}`);
    return sql`(${sql.join([...equal, sql`${key.column} ${key.beyond} ${key.value}`], sql` and `)})`;
  });
  return sql`(${sql.join(terms, sql` or `)})`;
}

/**
 * What the text and filter admit, of the products on sale: the full-text query (every word,
 * stemmed, in name or description), or a name resembling the words that holds no excluded word.
 */
function matches(query: SearchQuery): SQL {
  const conditions: SQL[] = [onSale];
  const { text } = query;
  if (text !== null) {
    const fullText = sql`${products.search} @@ websearch_to_tsquery('english', ${text.query})`;
    if (text.words === null) {
      conditions.push(fullText);
    } else {
      const resembles = sql`${text.words} <% ${products.name}`;
      const excluded = text.excluded.length
        ? sql` and not ${products.search} @@ websearch_to_tsquery('english', ${text.excluded.map((e) => `"${e}"`).join(' or ')})`
        : sql``;
      conditions.push(sql`(${fullText} or (${resembles}${excluded}))`);
    }
  }
  const { categoryIds, brandIds, minPrice, maxPrice } = query.filter;
  if (categoryIds.length > 0) conditions.push(inArray(products.categoryId, [...categoryIds]));
  if (brandIds.length > 0) conditions.push(inArray(products.brandId, [...brandIds]));
  if (minPrice !== null) conditions.push(sql`${products.priceAmount} >= ${minPrice}`);
  if (maxPrice !== null) conditions.push(sql`${products.priceAmount} <= ${maxPrice}`);
  return sql.join(conditions, sql` and `);
}

/**
 * Relevance: a product holding every word of the text outranks any that only
 * resembles it (the 1 for a full-text match), then cover density of the words
 * (name words weigh more) plus how closely the name resembles the text. Rounded to
 * a numeric so a cursor can carry it exactly.
 */
function score(query: SearchQuery): SQL {
  const { text } = query;
  if (text === null) return sql`0::numeric`;
  const tsquery = sql`websearch_to_tsquery('english', ${text.query})`;
  const resemblance = text.words === null ? sql`0` : sql`word_similarity(${text.words}, ${products.name})`;
  return sql`round((
    (case when ${products.search} @@ ${tsquery} then 1 else 0 end)
    + ts_rank_cd(${products.search}, ${tsquery})
    + ${resemblance}
  )::numeric, 6)`;
}

/** The whole search in one statement: the page, the total and every facet over one snapshot. */
function searchStatement(query: SearchQuery): SQL {
  const order = orderBy(query);
  const sortValues = sql.join(
    SORT_FIELDS[query.sort].map(({ field }) => sql.raw(`${SORT_COLUMNS[field].column}::text`)),
    sql`, `,
  );
  const bandFloors = sql.join(query.priceBands.map((band) => sql`${band.min}::integer`), sql`, `);
  return sql`
    -- name: search-products
    with matched as (
      select ${products.id} as id, ${products.categoryId} as category_id, ${products.brandId} as brand_id,
        ${products.priceAmount} as price_amount, ${nameSortKey(products.name)} as name_key,
        (extract(epoch from ${products.createdAt}) * 1000000)::bigint as created_key,
        ${score(query)} as score
      from ${products}
      where ${matches(query)}
    ),
    page as (
      select * from matched where ${seekAfter(query)} order by ${order} limit ${query.limit + 1}
    )
    select
      (select count(*) from matched)::integer as total,
      (select coalesce(json_agg(json_build_object('id', id, 'values', json_build_array(${sortValues})) order by ${order}), '[]'::json)
        from page) as hits,
      (select coalesce(json_agg(json_build_object('id', category_id, 'count', n) order by n desc, category_id), '[]'::json)
        from (select category_id, count(*)::integer as n from matched group by category_id) f) as categories,
      (select coalesce(json_agg(json_build_object('id', brand_id, 'count', n) order by n desc, brand_id), '[]'::json)
        from (select brand_id, count(*)::integer as n from matched group by brand_id) f) as brands,
      (select coalesce(json_agg(json_build_array(band, n)), '[]'::json)
        from (select width_bucket(price_amount, array[${bandFloors}]::integer[]) as band, count(*)::integer as n
              from matched group by 1) f) as price_bands`;
}

/**
 * Whether, for every typed word, a word of the name starts with it. The `simple`
 * configuration: no stemming and no stop words, as letters are typed.
 */
function startsWords(query: PredictiveQuery, name: AnyPgColumn): SQL {
  return sql`to_tsvector('simple', ${name}) @@ to_tsquery('simple', ${query.prefix})`;
}

/**
 * Ids of the best `limit` rows of `table` whose name matches typed text. Names with a word
 * starting with every typed word come first, shortest first (the text covers more of them),
 * then by name. Only when they are fewer than `limit` are names resembling the text looked
 * for, most similar first: similarity is costly to compute, and while a shopper types a
 * prefix there are nearly always enough names that start with it.
 */
function suggestionIds(query: PredictiveQuery, table: typeof products | typeof categories | typeof brands): SQL {
  const columns = (tier: number, resemblance: SQL) =>
    sql`${table.id} as id, ${sql.raw(String(tier))} as tier, ${resemblance} as resemblance,
      length(${table.name}) as len, ${nameSortKey(table.name)} as name_key`;
  // Archived products are never suggested; categories and brands are never archived.
  const suggestable = table === products ? onSale : sql`true`;
  const starting = sql`select ${columns(1, sql`0::real`)} from ${table}
    where ${startsWords(query, table.name)} and ${suggestable} order by len, name_key, id limit ${query.limit}`;
  const ranked = (rows: SQL) =>
    sql`(select coalesce(json_agg(id order by tier, resemblance desc, len, name_key, id), '[]'::json) from (${rows}) hits)`;
  if (query.fuzzy === null) return ranked(starting);
  const resembling = sql`select ${columns(2, sql`word_similarity(${query.fuzzy}, ${table.name})`)} from ${table}
    where (select count(*) from starting) < ${query.limit}
      and ${query.fuzzy} <% ${table.name} and not ${startsWords(query, table.name)} and ${suggestable}
    order by resemblance desc, len, name_key, id limit ${query.limit}`;
  return ranked(sql`with starting as (${starting}), resembling as (${resembling})
    select * from (select * from starting union all select * from resembling) found
    order by tier, resemblance desc, len, name_key, id limit ${query.limit}`);
}

/** Predictive search in one statement: suggested products, categories and brands over one snapshot. */
function suggestStatement(query: PredictiveQuery): SQL {
  return sql`
    -- name: predictive-search
    select ${suggestionIds(query, products)} as products,
      ${suggestionIds(query, categories)} as categories,
      ${suggestionIds(query, brands)} as brands`;
}

interface SuggestRow {
  products: unknown;
  categories: unknown;
  brands: unknown;
}

/** Runs `statement` in a read-only transaction in which `<%` uses the fuzzy name threshold. */
async function withFuzzyThreshold<T>(database: Database, statement: SQL): Promise<T | undefined> {
  return database.db.transaction(
    async (tx) => {
      // The `<%` operator reads its threshold from this setting; local to this transaction.
      // name: set-fuzzy-threshold
      await tx.execute(sql`select set_config('pg_trgm.word_similarity_threshold', ${String(FUZZY_NAME_THRESHOLD)}, true)`);
      return rowsOf<T>(await tx.execute(statement))[0];
    },
    { accessMode: 'read only' },
  );
}

interface SearchRow {
  total: number;
  hits: unknown;
  categories: unknown;
  brands: unknown;
  price_bands: unknown;
}

/** Search over the catalog tables: PostgreSQL full text plus trigram similarity on names. */
export function postgresSearchIndex(database: Database): ProductSearchIndex {
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,

    // The search document is a generated column of the catalog's own rows, whose version and
    // archive date are the catalog's: nothing to copy, and nothing older can replace them.
    indexProducts: async () => {},

    async search(query): Promise<SearchPage> {
      const statement = searchStatement(query);
      const row =
        query.text === null
          ? (await database.rows<SearchRow>(statement))[0]
          : await withFuzzyThreshold<SearchRow>(database, statement);
      if (!row) throw new Error('search returned no row');
      const hits = jsonOf<{ id: string; values: string[] }[]>(row.hits);
      const byBand = new Map(jsonOf<[number, number][]>(row.price_bands));
      const page = hits.slice(0, query.limit);
      return {
        hits: page.map((hit) => ({ id: hit.id, position: { values: hit.values, id: hit.id } })),
        hasMore: hits.length > query.limit,
        totalCount: row.total,
        facets: {
          categories: jsonOf<FacetCount[]>(row.categories),
          brands: jsonOf<FacetCount[]>(row.brands),
          // width_bucket numbers the bands from 1; prices below the first floor would be 0.
          priceBands: query.priceBands.map((band, i) => ({ ...band, count: byBand.get(i + 1) ?? 0 })),
        },
      };
    },

    async suggest(query) {
      const statement = suggestStatement(query);
      const row =
        query.fuzzy === null
          ? (await database.rows<SuggestRow>(statement))[0]
          : await withFuzzyThreshold<SuggestRow>(database, statement);
      if (!row) throw new Error('predictive search returned no row');
      return {
        productIds: jsonOf<string[]>(row.products),
        categoryIds: jsonOf<string[]>(row.categories),
        brandIds: jsonOf<string[]>(row.brands),
      };
    },
  };
}

/**
 * The catalog and its search index on one PostgreSQL database: the index reads the catalog's
 * own rows, so the index outbox is neither written nor relayed.
 */
export function postgresCatalogStore(database: Database): CatalogStore {
  return {
    catalog: postgresProductCatalog(database),
    index: postgresSearchIndex(database),
    indexFeed: 'catalog-rows',
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,
  };
}
