import type { StoreHandle } from '../../../platform/server';

/** A category of the catalog as stored. */
export interface CategoryRecord {
  id: string;
  slug: string;
  name: string;
  description: string;
}

/** A brand as stored. */
export interface BrandRecord {
  id: string;
  slug: string;
  name: string;
}

/** What a product is made of when it is written; the store adds the timestamps. */
export interface NewProductRecord {
  id: string;
  sku: string;
  name: string;
  description: string;
  /** Price in integer minor units of `currency`. */
  priceAmount: number;
  /** ISO 4217 code. */
  currency: string;
  categoryId: string;
  brandId: string;
}

/** A product as stored. */
export interface ProductRecord extends NewProductRecord {
  createdAt: Date;
  updatedAt: Date;
  /**
   * 1 when the product is created, one more on every write to it (archiving included): of
   * two copies of a product, the one with the higher version is the newer.
   */
  version: number;
  /**
   * When the product was archived: no longer sold, out of search and suggestions, but still
   * readable by id for past orders and references. Null while it is sold.
   */
  archivedAt: Date | null;
}

/** A product as of one write to it: its id and the version that write made. */
export interface ProductVersionStamp {
  id: string;
  version: number;
}

/** Fields of a product an update may change; absent fields stay as they are. */
export type ProductChanges = Partial<Omit<NewProductRecord, 'id'>>;

/** Why the catalog refused a write: each is the client's mistake, not a failure. */
export type CatalogRefusal =
  | { kind: 'duplicate-sku' }
  | { kind: 'unknown-category' }
  | { kind: 'unknown-brand' };

export function isRefusal(value: object): value is CatalogRefusal {
  return 'kind' in value;
}

/** A whole catalog written at once (seeding, imports); `createdAt` keeps history when given. */
export interface CatalogImport {
  categories: readonly CategoryRecord[];
  brands: readonly BrandRecord[];
  products: readonly (NewProductRecord & { createdAt?: Date })[];
}

/**
 * The catalog's index outbox, what keeps a search index kept apart from the catalog
 * (Elasticsearch) in step with it. Every write to a product (create, update, archive,
 * import) records, in the same transaction as the write, that the product changed; a
 * relay (`CatalogIndexRelay`) hands the changed products to `ProductSearchIndex.indexProducts`
 * and then confirms them here. Delivery is at least once and may repeat or arrive out of
 * order (a retry, two replicas relaying at once): the index keeps whichever copy of a
 * product has the higher version, so a repeat changes nothing. A catalog searched by an index
 * that reads its own rows (PostgreSQL beside PostgreSQL) may keep no outbox: then nothing is
 * ever pending.
 */
export interface CatalogIndexOutbox {
  /**
   * Products written since the index last confirmed them, longest waiting first, at most
   * `limit`: each once, as it is now (its latest version, archived ones too). They come
   * again on every call until `markIndexed` confirms them.
   */
  pendingIndexChanges(limit: number): Promise<ProductRecord[]>;
  /**
   * Confirms that the index holds these products at least at these versions. A product
   * written again since (a higher version) stays pending, so its newer write still reaches
   * the index.
   */
  markIndexed(products: readonly ProductVersionStamp[]): Promise<void>;
}

/**
 * The source of truth for products, categories and brands (MongoDB in production,
 * PostgreSQL tables embedded). Reads take id lists so a request's DataLoader asks once.
 * Every write records the products it changed in the index outbox, in its own transaction,
 * whenever the index is kept apart from the catalog.
 */
export interface ProductCatalog extends StoreHandle, CatalogIndexOutbox {
  /** Products by id in one query, archived ones too; unknown ids are absent. */
  productsByIds(ids: readonly string[]): Promise<ProductRecord[]>;
  /**
   * Every product, archived ones too, a page at a time in the store's id order (stable
   * between calls): those after `afterId` (from the first when null), at most `limit`.
   * For rebuilding a search index from the catalog.
   */
  productsAfter(afterId: string | null, limit: number): Promise<ProductRecord[]>;
  /** Categories by id in one query; unknown ids are absent. */
  categoriesByIds(ids: readonly string[]): Promise<CategoryRecord[]>;
  /** Brands by id in one query; unknown ids are absent. */
  brandsByIds(ids: readonly string[]): Promise<BrandRecord[]>;
  /** Every category, ordered by name then id. */
  listCategories(): Promise<CategoryRecord[]>;
  /** Every brand, ordered by name then id. */
  listBrands(): Promise<BrandRecord[]>;
  /** Adds a product at version 1; refuses a taken SKU or a category or brand that does not exist. */
  createProduct(product: NewProductRecord): Promise<ProductRecord | CatalogRefusal>;
  /**
   * Changes a product, its `updatedAt` and its version (an archived product stays archived);
   * `null` when there is no such product.
   */
  updateProduct(id: string, changes: ProductChanges): Promise<ProductRecord | CatalogRefusal | null>;
  /**
   * Archives a product: sets `archivedAt`, `updatedAt` and the next version. A product
   * already archived is answered as it is, unchanged; `null` when there is no such product.
   */
  archiveProduct(id: string): Promise<ProductRecord | null>;
  /**
   * Writes a whole catalog in one transaction, in chunks: all of it or, on any error, none.
   * Every product is at version 1 and not archived.
   */
  insertCatalog(data: CatalogImport): Promise<void>;
  /** True when the catalog holds no category, brand or product. */
  isEmpty(): Promise<boolean>;
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
}

/** The sort orders a search can ask for; ties always fall back to product id, ascending. */
export type SearchSort = 'RELEVANCE' | 'PRICE_ASC' | 'PRICE_DESC' | 'NAME_ASC' | 'NEWEST';

/** Restrictions on a search, already validated; an empty id list restricts nothing. */
export interface SearchFilter {
  categoryIds: readonly string[];
  brandIds: readonly string[];
  /** Lowest price included, minor units. */
  minPrice: number | null;
  /** Highest price included, minor units. */
  maxPrice: number | null;
}

/** A price range counted in the facets: from `min` up to but not including `max` (open when null). */
export interface PriceBand {
  min: number;
  max: number | null;
}

/**
 * Where a hit stands in its sort order: one text value per sort field of the order
 * (see `SORT_FIELDS`), then the product id. A page starts strictly after a position.
 */
export interface SortPosition {
  values: readonly string[];
  id: string;
}

/**
 * Search text in web-search syntax (`"a phrase"`, `-excluded`, `or`), with the parts
 * a typo-tolerant match needs, which cannot read that syntax.
 */
export interface SearchText {
  /** The text as typed, normalised; full-text matching reads its syntax. */
  query: string;
  /** The words to look for, without syntax, for names that resemble them; null when there are none. */
  words: string | null;
  /** Words and phrases a product must not contain, however closely its name resembles `words`. */
  excluded: readonly string[];
}

/** A search as the index runs it: validated, normalised, its sort resolved. */
export interface SearchQuery {
  /** What to match; null lists the catalog without matching words. */
  text: SearchText | null;
  filter: SearchFilter;
  sort: SearchSort;
  /** Hits to return at most. */
  limit: number;
  /** Return hits after this position; null starts at the top. */
  after: SortPosition | null;
  /** Bands the price facet counts, ascending and contiguous from the first band's `min`. */
  priceBands: readonly PriceBand[];
}

/** One matching product and its position in the sort order. */
export interface SearchHit {
  id: string;
  position: SortPosition;
}

/** How many matching products have one value. */
export interface FacetCount {
  id: string;
  count: number;
}

/** Counts over every matching product, not one page. */
export interface SearchFacets {
  /** Categories with at least one match, most matches first, then by id. */
  categories: FacetCount[];
  /** Brands with at least one match, most matches first, then by id. */
  brands: FacetCount[];
  /** Every band of the query, in its order, including those with no match. */
  priceBands: (PriceBand & { count: number })[];
}

/** One page of a search. */
export interface SearchPage {
  hits: SearchHit[];
  /** Whether more hits follow the last one. */
  hasMore: boolean;
  /** Matching products over all pages. */
  totalCount: number;
  facets: SearchFacets;
}

/** Predictive search as the index runs it: what a shopper has typed so far, validated. */
export interface PredictiveQuery {
  /** The typed words, lower-cased, letters and digits only; at least one. */
  words: readonly string[];
  /** The words as a `to_tsquery` text in which each is a prefix: `'oak':* & 'tab':*`. */
  prefix: string;
  /** The words joined by spaces, for names that resemble them (typos); null when too short to be worth it. */
  fuzzy: string | null;
  /** Suggestions of each kind at most. */
  limit: number;
}

/**
 * What typed text matches, best first in each list: names with a word starting with every
 * typed word, then names resembling the text.
 */
export interface Suggestions {
  productIds: string[];
  categoryIds: string[];
  brandIds: string[];
}

/**
 * Full-text search over the catalog (Elasticsearch in production, PostgreSQL
 * full-text and trigram search embedded). Answers with ids; records come from the catalog.
 */
export interface ProductSearchIndex extends StoreHandle {
  /** One ordered page of matching product ids, with the total and facets of the whole result; archived products never match. */
  search(query: SearchQuery): Promise<SearchPage>;
  /** Products, categories and brands whose names match text being typed, for suggestions; never an archived product. */
  suggest(query: PredictiveQuery): Promise<Suggestions>;
  /**
   * Makes written products searchable, as the catalog's index outbox delivers them: whole
   * records, at least once, possibly repeated or out of order. Idempotent by version: a
   * product's copy is replaced only by a higher version, never by an older one. An archived
   * record takes the product out of search and suggestions. An index kept apart from the
   * catalog copies them here; one that reads the catalog's own rows has nothing to do.
   */
  indexProducts(products: readonly ProductRecord[]): Promise<void>;
  /** Statements sent to the store so far (metrics, tests). */
  statementCount(): number;
}

/**
 * How written products reach the search index: `catalog-rows` when the index reads the
 * catalog's own rows (PostgreSQL), so there is nothing to deliver; `outbox` when the index
 * is kept apart (Elasticsearch) and a relay delivers the catalog's index outbox to it.
 */
export type IndexFeed = 'catalog-rows' | 'outbox';

/** A catalog and its search index opened together, as the subgraph uses them. */
export interface CatalogStore extends StoreHandle {
  catalog: ProductCatalog;
  index: ProductSearchIndex;
  indexFeed: IndexFeed;
}
