import { randomUUID } from 'node:crypto';
import DataLoader from 'dataloader';
import { requireAdmin, type Viewer } from '../../platform/auth';
import { badUserInput, notFound } from '../../platform/errors';
import { recordLoader } from '../../platform/loaders';
import { money, type Money } from '../../platform/money';
import { CachedProducts } from './cached-products';
import { buildPredictiveQuery, highlightRanges, type PredictiveArgs, type TextRange } from './predictive-query';
import { parseProductChanges, parseProductFields, type CreateProductInput, type UpdateProductInput } from './product-input';
import { buildSearchQuery, encodeCursor, type SearchArgs } from './search-query';
import {
  isRefusal,
  type BrandRecord,
  type CatalogRefusal,
  type CategoryRecord,
  type FacetCount,
  type ProductCatalog,
  type ProductRecord,
  type ProductSearchIndex,
} from './store/port';
import { memoryProductCache } from './store/cache-memory';

/** Most ids `Query.products` accepts at once. */
export const MAX_PRODUCT_IDS = 100;

/** This request's batched readers of the catalog. */
export interface ProductSearchLoaders {
  products: DataLoader<string, ProductRecord | null>;
  categories: DataLoader<string, CategoryRecord | null>;
  brands: DataLoader<string, BrandRecord | null>;
}

/** A page of search results as the schema's `ProductSearchResult` reads it. */
export interface SearchResult {
  totalCount: number;
  edges: { cursor: string; node: ProductRecord }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  facets: {
    categories: FacetCount[];
    brands: FacetCount[];
    priceBands: { min: Money; max: Money | null; count: number }[];
  };
}

/** Suggestions for typed text as the schema's `PredictiveSearchResult` reads them. */
export interface PredictiveSearchResult {
  query: string;
  products: { product: ProductRecord; highlights: TextRange[] }[];
  categories: { category: CategoryRecord; highlights: TextRange[] }[];
  brands: { brand: BrandRecord; highlights: TextRange[] }[];
}

/** A demo or imported catalog; prices are minor units of `currency`. */
export interface CatalogData {
  currency: string;
  categories: readonly CategoryRecord[];
  brands: readonly BrandRecord[];
  products: readonly (Omit<ProductRecord, 'currency' | 'createdAt' | 'updatedAt' | 'version' | 'archivedAt'> & { createdAt?: Date })[];
}

function refusalError(refusal: CatalogRefusal, sku: string | undefined) {
  switch (refusal.kind) {
    case 'duplicate-sku':
      return badUserInput(`Another product already has sku ${sku}.`, { field: 'sku' });
    case 'unknown-category':
      return badUserInput('There is no such category.', { field: 'categoryId' });
    case 'unknown-brand':
      return badUserInput('There is no such brand.', { field: 'brandId' });
  }
}

/** The catalog's rules: who may change products, what a valid product is, and how searches run. */
export class ProductSearchService {
  constructor(
    private readonly catalog: ProductCatalog,
    private readonly index: ProductSearchIndex,
    /** ISO 4217 code new prices are in (SHOP_CURRENCY). */
    private readonly currency: string,
    /** Products read through the product cache; default an in-process LRU of its own. */
    private readonly cachedProducts = new CachedProducts({ catalog, cache: memoryProductCache() }),
    /**
     * Called after every committed catalog write: the index relay's `notify`, so the change
     * reaches a search index kept apart without waiting for the relay's next look. Default none
     * (an index that reads the catalog's own rows sees the write at once).
     */
    private readonly afterWrite: () => void = () => {},
  ) {}

  loaders(): ProductSearchLoaders {
    return {
      products: new DataLoader((ids) => this.cachedProducts.byIds(ids), { maxBatchSize: 1000 }),
      categories: recordLoader((ids) => this.catalog.categoriesByIds(ids), (c) => c.id),
      brands: recordLoader((ids) => this.catalog.brandsByIds(ids), (b) => b.id),
    };
  }

  listCategories(): Promise<CategoryRecord[]> {
    return this.catalog.listCategories();
  }

  listBrands(): Promise<BrandRecord[]> {
    return this.catalog.listBrands();
  }

  product(id: string, loaders: ProductSearchLoaders): Promise<ProductRecord | null> {
    return loaders.products.load(id);
  }

  async products(ids: readonly string[], loaders: ProductSearchLoaders): Promise<(ProductRecord | null)[]> {
    if (ids.length > MAX_PRODUCT_IDS) throw badUserInput(`ids may hold at most ${MAX_PRODUCT_IDS} ids.`, { field: 'ids' });
    return Promise.all(ids.map((id) => loaders.products.load(id)));
  }

  /** The category of a product or facet; the catalog never holds a product without one. */
  async category(id: string, loaders: ProductSearchLoaders): Promise<CategoryRecord> {
    const category = await loaders.categories.load(id);
    if (!category) throw new Error(`category ${id} is referenced but missing`);
    return category;
  }

  /** The brand of a product or facet; the catalog never holds a product without one. */
  async brand(id: string, loaders: ProductSearchLoaders): Promise<BrandRecord> {
    const brand = await loaders.brands.load(id);
    if (!brand) throw new Error(`brand ${id} is referenced but missing`);
    return brand;
  }

  async search(args: SearchArgs, loaders: ProductSearchLoaders): Promise<SearchResult> {
    const query = buildSearchQuery(args, this.currency);
    const page = await this.index.search(query);
    const records = await Promise.all(page.hits.map((hit) => loaders.products.load(hit.id)));
    const cursors = page.hits.map((hit) => encodeCursor(query.sort, hit.position));
    // An index kept apart from the catalog can briefly name a product the catalog no longer
    // has, or one archived before the index heard of it; such a hit is left out rather than
    // failing the page.
    const edges = records.flatMap((node, i) => (node && node.archivedAt === null ? [{ cursor: cursors[i]!, node }] : []));
    return {
      totalCount: page.totalCount,
      edges,
      pageInfo: { hasNextPage: page.hasMore, endCursor: cursors.at(-1) ?? null },
      facets: {
        categories: page.facets.categories,
        brands: page.facets.brands,
        priceBands: page.facets.priceBands.map((band) => ({
          min: money(band.min, this.currency),
          max: band.max === null ? null : money(band.max, this.currency),
          count: band.count,
        })),
      },
    };
  }

  /** Suggestions for what a shopper has typed so far, each with the parts of its name that match. */
  async predictiveSearch(args: PredictiveArgs, loaders: ProductSearchLoaders): Promise<PredictiveSearchResult> {
    const { text, query } = buildPredictiveQuery(args);
    if (query === null) return { query: text, products: [], categories: [], brands: [] };
    const found = await this.index.suggest(query);
    const [products, categories, brands] = await Promise.all([
      loaders.products.loadMany(found.productIds),
      loaders.categories.loadMany(found.categoryIds),
      loaders.brands.loadMany(found.brandIds),
    ]);
    const present = <T>(records: (T | Error | null)[]): T[] =>
      records.flatMap((record) => {
        if (record instanceof Error) throw record;
        // An index kept apart from the catalog can briefly name a record the catalog no longer has.
        return record === null ? [] : [record];
      });
    return {
      query: text,
      // As in search: a product archived before a separate index heard of it is not suggested.
      products: present(products)
        .filter((product) => product.archivedAt === null)
        .map((product) => ({ product, highlights: highlightRanges(product.name, query.words) })),
      categories: present(categories).map((category) => ({ category, highlights: highlightRanges(category.name, query.words) })),
      brands: present(brands).map((brand) => ({ brand, highlights: highlightRanges(brand.name, query.words) })),
    };
  }

  /** BAD_USER_INPUT unless the category and brand a product names exist. */
  private async requireReferences(
    refs: { categoryId?: string; brandId?: string },
    loaders: ProductSearchLoaders,
  ): Promise<void> {
    const [category, brand] = await Promise.all([
      refs.categoryId === undefined ? undefined : loaders.categories.load(refs.categoryId),
      refs.brandId === undefined ? undefined : loaders.brands.load(refs.brandId),
    ]);
    if (category === null) throw refusalError({ kind: 'unknown-category' }, undefined);
    if (brand === null) throw refusalError({ kind: 'unknown-brand' }, undefined);
  }

  async createProduct(viewer: Viewer, input: CreateProductInput, loaders: ProductSearchLoaders): Promise<ProductRecord> {
    requireAdmin(viewer);
    const fields = parseProductFields(input);
    await this.requireReferences(fields, loaders);
    const result = await this.catalog.createProduct({ id: randomUUID(), ...fields, currency: this.currency });
    if (isRefusal(result)) throw refusalError(result, fields.sku);
    this.afterWrite();
    // Nothing to invalidate: the id is new, and unknown ids are never cached.
    loaders.products.prime(result.id, result);
    return result;
  }

  async updateProduct(
    viewer: Viewer,
    id: string,
    input: UpdateProductInput,
    loaders: ProductSearchLoaders,
  ): Promise<ProductRecord> {
    requireAdmin(viewer);
    const changes = parseProductChanges(input);
    if (Object.keys(changes).length === 0) {
      // Nothing to change: the product as it is, and its updatedAt untouched.
      const product = await loaders.products.load(id);
      if (!product) throw notFound(`Product ${id}`);
      return product;
    }
    await this.requireReferences(changes, loaders);
    // A new price is in the shop's currency, whatever the old one was in.
    const result = await this.catalog.updateProduct(
      id,
      changes.priceAmount === undefined ? changes : { ...changes, currency: this.currency },
    );
    if (result === null) throw notFound(`Product ${id}`);
    if (isRefusal(result)) throw refusalError(result, changes.sku);
    this.afterWrite();
    await this.cachedProducts.invalidate([result]);
    loaders.products.clear(id).prime(id, result);
    return result;
  }

  /**
   * Archives a product: it is no longer sold, leaves search and suggestions and cannot be put
   * in a cart, but past orders and references still read it. Archiving an archived product
   * answers it unchanged. Admin only; NOT_FOUND for an unknown product.
   */
  async archiveProduct(viewer: Viewer, id: string, loaders: ProductSearchLoaders): Promise<ProductRecord> {
    requireAdmin(viewer);
    const result = await this.catalog.archiveProduct(id);
    if (result === null) throw notFound(`Product ${id}`);
    this.afterWrite();
    await this.cachedProducts.invalidate([result]);
    loaders.products.clear(id).prime(id, result);
    return result;
  }

  /**
   * Writes a whole catalog into an empty store, every product checked like an
   * admin's; does nothing and answers false when the store already has data.
   */
  async importCatalog(data: CatalogData): Promise<boolean> {
    const categoryIds = new Set(data.categories.map((c) => c.id));
    const brandIds = new Set(data.brands.map((b) => b.id));
    const products = data.products.map((product) => {
      const fields = parseProductFields({ ...product, price: product.priceAmount });
      if (!categoryIds.has(fields.categoryId)) throw badUserInput(`Product ${product.id} names an unknown category.`);
      if (!brandIds.has(fields.brandId)) throw badUserInput(`Product ${product.id} names an unknown brand.`);
      return {
        id: product.id,
        ...fields,
        currency: data.currency,
        ...(product.createdAt ? { createdAt: product.createdAt } : {}),
      };
    });
    if (!(await this.catalog.isEmpty())) return false;
    await this.catalog.insertCatalog({ categories: data.categories, brands: data.brands, products });
    this.afterWrite();
    return true;
  }
}
