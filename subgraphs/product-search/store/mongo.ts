/**
 * The product catalog in MongoDB, with the official driver.
 *
 * Collections (every `_id` is the record's own id, a string):
 *
 * - `categories`: `{ _id, slug, name, description }`, the slug under the unique index
 *   `categories_slug_unique`, listed by name through `categories_name`.
 * - `brands`: `{ _id, slug, name }`, the same way (`brands_slug_unique`, `brands_name`).
 * - `products`: `{ _id, sku, name, description, priceAmount, currency, categoryId, brandId,
 *   createdAt, updatedAt, version, archivedAt }`. The SKU is under the unique index
 *   `products_sku_unique`; `products_category` and `products_brand` serve lookups by either.
 *   The collection's validator refuses a document without a field, a price outside 0 to
 *   2,147,483,647 minor units or a version below 1, whoever writes it. Every write sets the
 *   next `version` (`$inc`-like, in the update itself) and an `updatedAt` later than the one
 *   it replaces, by the server's clock.
 * - `product_index_outbox`: `{ _id: productId, version, changedAt }`, the index outbox: a
 *   document per product written since the search index last confirmed it, upserted in the
 *   write's own transaction and read longest waiting first (`product_index_outbox_changed`).
 *
 * MongoDB keeps no foreign keys: a write that names a category or brand looks it up in its
 * own transaction first (categories and brands are never deleted, so what it found stays).
 * Dates are BSON dates. Collections, their validator and indexes are declared below and
 * created at start (creating what exists changes nothing). Writes run in transactions, so
 * the server must be a replica set; a one-node replica set will do.
 */
import {
  MongoServerError,
  type AnyBulkWriteOperation,
  type ClientSession,
  type Collection,
  type Document,
  type Filter,
  type IndexDescription,
} from 'mongodb';
import { chunks, DUPLICATE_KEY, openMongoStore, TRANSACTION, type MongoConnection, type MongoStoreOptions } from '../../../platform/mongo';
import { MAX_PRICE } from '../product-input';
import type {
  BrandRecord,
  CatalogRefusal,
  CategoryRecord,
  ProductCatalog,
  ProductChanges,
  ProductRecord,
  ProductVersionStamp,
} from './port';

/** The database used when the URL names none. */
export const DEFAULT_CATALOG_DATABASE = 'catalog';



/**
 * Documents written per command when importing: each command stays well within the socket
 * timeout (STORE_REQUEST_TIMEOUT_MS) however large the catalog.
 */
const IMPORT_CHUNK = 1000;

interface CategoryDocument {
  _id: string;
  slug: string;
  name: string;
  description: string;
}

interface BrandDocument {
  _id: string;
  slug: string;
  name: string;
}

interface ProductDocument {
  _id: string;
  sku: string;
  name: string;
  description: string;
  priceAmount: number;
  currency: string;
  categoryId: string;
  brandId: string;
  createdAt: Date;
  updatedAt: Date;
  version: number;
  archivedAt: Date | null;
}

interface IndexOutboxDocument {
  /** The product's id. */
  _id: string;
  /** The version the latest write made; confirming an older one leaves the document. */
  version: number;
  /** When the product first changed since it was last confirmed: the longest waiting go first. */
  changedAt: Date;
}

/** What the server checks of every product document, whoever writes it. */
const PRODUCT_VALIDATOR: Document = {
  $jsonSchema: {
    bsonType: 'object',
    required: ['sku', 'name', 'description', 'priceAmount', 'currency', 'categoryId', 'brandId', 'createdAt', 'updatedAt', 'version'],
    properties: {
      sku: { bsonType: 'string' },
      name: { bsonType: 'string' },
      description: { bsonType: 'string' },
      priceAmount: { bsonType: 'int', minimum: 0, maximum: MAX_PRICE },
      currency: { bsonType: 'string', minLength: 3, maxLength: 3 },
      categoryId: { bsonType: 'string' },
      brandId: { bsonType: 'string' },
      createdAt: { bsonType: 'date' },
      updatedAt: { bsonType: 'date' },
      version: { bsonType: ['int', 'long'], minimum: 1 },
      archivedAt: { bsonType: ['date', 'null'] },
    },
  },
};

/** Collection names, the indexes each needs and the validator of those that have one; created at start. */
export const CATALOG_COLLECTIONS = {
  categories: {
    name: 'categories',
    indexes: [
      { key: { slug: 1 }, name: 'categories_slug_unique', unique: true },
      { key: { name: 1, _id: 1 }, name: 'categories_name' },
    ],
  },
  brands: {
    name: 'brands',
    indexes: [
      { key: { slug: 1 }, name: 'brands_slug_unique', unique: true },
      { key: { name: 1, _id: 1 }, name: 'brands_name' },
    ],
  },
  products: {
    name: 'products',
    indexes: [
      { key: { sku: 1 }, name: 'products_sku_unique', unique: true },
      { key: { categoryId: 1 }, name: 'products_category' },
      { key: { brandId: 1 }, name: 'products_brand' },
    ],
    validator: PRODUCT_VALIDATOR,
  },
  indexOutbox: {
    name: 'product_index_outbox',
    indexes: [{ key: { changedAt: 1, _id: 1 }, name: 'product_index_outbox_changed' }],
  },
} as const satisfies Record<string, { name: string; indexes: IndexDescription[]; validator?: Document }>;

/**
 * Opens the catalog on MongoDB: checks the server is a replica set, creates the collections
 * with their validator and indexes, and connects (platform/mongo.ts).
 */
export async function openMongoCatalog(options: MongoStoreOptions): Promise<ProductCatalog> {
  const connection = await openMongoStore(options, {
    name: 'catalog',
    defaultDatabase: DEFAULT_CATALOG_DATABASE,
    collections: Object.values(CATALOG_COLLECTIONS),
  });
  return mongoProductCatalog(connection);
}

function toProduct(doc: ProductDocument): ProductRecord {
  return {
    id: doc._id,
    sku: doc.sku,
    name: doc.name,
    description: doc.description,
    priceAmount: doc.priceAmount,
    currency: doc.currency,
    categoryId: doc.categoryId,
    brandId: doc.brandId,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
    version: doc.version,
    archivedAt: doc.archivedAt ?? null,
  };
}

function toCategory(doc: CategoryDocument): CategoryRecord {
  return { id: doc._id, slug: doc.slug, name: doc.name, description: doc.description };
}

function toBrand(doc: BrandDocument): BrandRecord {
  return { id: doc._id, slug: doc.slug, name: doc.name };
}

/** Whether `error` is the unique SKU index refusing a write. */
function isDuplicateSku(error: unknown): boolean {
  if (!(error instanceof MongoServerError) || error.code !== DUPLICATE_KEY) return false;
  const keyPattern = error.keyPattern as Record<string, unknown> | undefined;
  return keyPattern ? 'sku' in keyPattern : error.message.includes(CATALOG_COLLECTIONS.products.indexes[0].name);
}

/**
 * The update that every write to a product ends with: the next version, and an `updatedAt` of
 * the server's clock, yet always after the one it replaces (so a copy's `updatedAt` orders
 * like its version, whichever replica wrote it).
 */
const NEXT_VERSION: Document = {
  $set: {
    updatedAt: { $max: ['$$NOW', { $add: ['$updatedAt', 1] }] },
    version: { $add: ['$version', 1] },
  },
};

/**
 * A price as the 32-bit integer the validator asks for: the driver sends -0 (what GraphQL reads
 * from a price written "-0") as a double, which the validator refuses, so it is sent as 0.
 */
const minorUnits = (amount: number) => (amount === 0 ? 0 : amount);

/**
 * An update pipeline setting the changed fields and then the next version; `$literal` keeps a
 * value such as "$9 lamp" from reading as a field path.
 */
function changesThenNextVersion(changes: ProductChanges): Document[] {
  const fields = Object.entries(changes).filter(([, value]) => value !== undefined);
  if (fields.length === 0) return [NEXT_VERSION];
  const literal = (field: string, value: unknown) => ({ $literal: field === 'priceAmount' ? minorUnits(value as number) : value });
  return [{ $set: Object.fromEntries(fields.map(([field, value]) => [field, literal(field, value)])) }, NEXT_VERSION];
}

function mongoProductCatalog(connection: MongoConnection): ProductCatalog {
  const { client, db } = connection;
  const categories: Collection<CategoryDocument> = db.collection(CATALOG_COLLECTIONS.categories.name);
  const brands: Collection<BrandDocument> = db.collection(CATALOG_COLLECTIONS.brands.name);
  const products: Collection<ProductDocument> = db.collection(CATALOG_COLLECTIONS.products.name);
  const outbox: Collection<IndexOutboxDocument> = db.collection(CATALOG_COLLECTIONS.indexOutbox.name);

  const inTransaction = <T>(work: (session: ClientSession) => Promise<T>): Promise<T> =>
    client.withSession((session) => session.withTransaction(work, TRANSACTION));

  /**
   * Records in the index outbox, inside the caller's transaction, that products were written:
   * a product already waiting keeps its place in line and takes the newer version. One command.
   */
  async function recordIndexChanges(session: ClientSession, written: readonly ProductVersionStamp[]): Promise<void> {
    if (written.length === 0) return;
    const upserts: AnyBulkWriteOperation<IndexOutboxDocument>[] = written.map((p) => ({
      updateOne: {
        filter: { _id: p.id },
        update: [{ $set: { version: { $max: ['$version', p.version] }, changedAt: { $ifNull: ['$changedAt', '$$NOW'] } } }],
        upsert: true,
      },
    }));
    await outbox.bulkWrite(upserts, { session, ordered: false });
  }

  /** The refusal a write naming a category or brand that does not exist meets; null when both exist (or are not named). */
  async function missingReference(
    session: ClientSession,
    refs: { categoryId?: string | undefined; brandId?: string | undefined },
  ): Promise<CatalogRefusal | null> {
    if (refs.categoryId !== undefined && !(await categories.findOne({ _id: refs.categoryId }, { session, projection: { _id: 1 } }))) {
      return { kind: 'unknown-category' };
    }
    if (refs.brandId !== undefined && !(await brands.findOne({ _id: refs.brandId }, { session, projection: { _id: 1 } }))) {
      return { kind: 'unknown-brand' };
    }
    return null;
  }

  /** Throws unless every id of `named` is among `imported` or already in `collection`; at most one query. */
  async function requireKnown<T extends { _id: string }>(
    session: ClientSession,
    collection: Collection<T>,
    named: readonly string[],
    imported: readonly { id: string }[],
    what: string,
  ): Promise<void> {
    const importedIds = new Set(imported.map((r) => r.id));
    const others = [...new Set(named)].filter((id) => !importedIds.has(id));
    if (others.length === 0) return;
    const found = await collection.countDocuments({ _id: { $in: others } } as Filter<T>, { session });
    if (found !== others.length) throw new Error(`the import names a ${what} the catalog does not have`);
  }

  return {
    ready: connection.ready,
    close: connection.close,
    statementCount: connection.statementCount,

    async productsByIds(ids) {
      if (ids.length === 0) return [];
      // One round trip: a first batch larger than the answer can be leaves no cursor to fetch more from.
      const docs = await products.find({ _id: { $in: [...ids] } }, { batchSize: ids.length + 1 }).toArray();
      return docs.map(toProduct);
    },

    async productsAfter(afterId, limit) {
      if (limit <= 0) return [];
      const docs = await products
        .find(afterId === null ? {} : { _id: { $gt: afterId } }, { sort: { _id: 1 }, limit, batchSize: limit + 1 })
        .toArray();
      return docs.map(toProduct);
    },

    async categoriesByIds(ids) {
      if (ids.length === 0) return [];
      const docs = await categories.find({ _id: { $in: [...ids] } }, { batchSize: ids.length + 1 }).toArray();
      return docs.map(toCategory);
    },

    async brandsByIds(ids) {
      if (ids.length === 0) return [];
      const docs = await brands.find({ _id: { $in: [...ids] } }, { batchSize: ids.length + 1 }).toArray();
      return docs.map(toBrand);
    },

    async listCategories() {
      return (await categories.find({}, { sort: { name: 1, _id: 1 } }).toArray()).map(toCategory);
    },

    async listBrands() {
      return (await brands.find({}, { sort: { name: 1, _id: 1 } }).toArray()).map(toBrand);
    },

    async createProduct(product) {
      try {
        return await inTransaction(async (session) => {
          const refusal = await missingReference(session, product);
          if (refusal) return refusal;
          const now = new Date();
          const doc: ProductDocument = {
            _id: product.id,
            sku: product.sku,
            name: product.name,
            description: product.description,
            priceAmount: minorUnits(product.priceAmount),
            currency: product.currency,
            categoryId: product.categoryId,
            brandId: product.brandId,
            createdAt: now,
            updatedAt: now,
            version: 1,
            archivedAt: null,
          };
          await products.insertOne(doc, { session });
          await recordIndexChanges(session, [{ id: doc._id, version: doc.version }]);
          return toProduct(doc);
        });
      } catch (error) {
        if (isDuplicateSku(error)) return { kind: 'duplicate-sku' };
        throw error;
      }
    },

    async updateProduct(id, changes) {
      try {
        return await inTransaction(async (session) => {
          const refusal = await missingReference(session, changes);
          if (refusal) return refusal;
          const doc = await products.findOneAndUpdate({ _id: id }, changesThenNextVersion(changes), {
            session,
            returnDocument: 'after',
          });
          if (!doc) return null;
          await recordIndexChanges(session, [{ id, version: doc.version }]);
          return toProduct(doc);
        });
      } catch (error) {
        if (isDuplicateSku(error)) return { kind: 'duplicate-sku' };
        throw error;
      }
    },

    async archiveProduct(id) {
      const archived = await inTransaction(async (session) => {
        // Only a product on sale is archived: archiving again changes nothing, not even its version.
        const doc = await products.findOneAndUpdate({ _id: id, archivedAt: null }, [NEXT_VERSION, { $set: { archivedAt: '$updatedAt' } }], {
          session,
          returnDocument: 'after',
        });
        if (doc) await recordIndexChanges(session, [{ id, version: doc.version }]);
        return doc;
      });
      if (archived) return toProduct(archived);
      const existing = await products.findOne({ _id: id });
      return existing ? toProduct(existing) : null;
    },

    async insertCatalog(data) {
      // One transaction, so all of it or none: the server's transaction lifetime
      // (`transactionLifetimeLimitSeconds`, 60 s by default) bounds how large an import can be.
      await inTransaction(async (session) => {
        if (data.categories.length > 0) {
          await categories.insertMany(
            data.categories.map((c) => ({ _id: c.id, slug: c.slug, name: c.name, description: c.description })),
            { session },
          );
        }
        if (data.brands.length > 0) {
          await brands.insertMany(
            data.brands.map((b) => ({ _id: b.id, slug: b.slug, name: b.name })),
            { session },
          );
        }
        if (data.products.length === 0) return;
        const now = new Date();
        const docs = data.products.map(
          (p): ProductDocument => ({
            _id: p.id,
            sku: p.sku,
            name: p.name,
            description: p.description,
            priceAmount: minorUnits(p.priceAmount),
            currency: p.currency,
            categoryId: p.categoryId,
            brandId: p.brandId,
            createdAt: p.createdAt ?? now,
            updatedAt: p.createdAt ?? now,
            version: 1,
            archivedAt: null,
          }),
        );
        // References checked in the transaction, as a foreign key would; those to categories and
        // brands of the import itself need no query, so an import into an empty catalog asks none.
        await requireKnown(session, categories, docs.map((d) => d.categoryId), data.categories, 'category');
        await requireKnown(session, brands, docs.map((d) => d.brandId), data.brands, 'brand');
        for (const chunk of chunks(docs, IMPORT_CHUNK)) {
          await products.insertMany(chunk, { session });
          await recordIndexChanges(
            session,
            chunk.map((d) => ({ id: d._id, version: d.version })),
          );
        }
      });
    },

    async isEmpty() {
      const [category, brand, product] = await Promise.all([
        categories.findOne({}, { projection: { _id: 1 } }),
        brands.findOne({}, { projection: { _id: 1 } }),
        products.findOne({}, { projection: { _id: 1 } }),
      ]);
      return !category && !brand && !product;
    },

    async pendingIndexChanges(limit) {
      if (limit <= 0) return [];
      // One command: the longest waiting entries joined to their products as they are now.
      const docs = await outbox
        .aggregate<ProductDocument>(
          [
            { $sort: { changedAt: 1, _id: 1 } },
            { $limit: limit },
            { $lookup: { from: CATALOG_COLLECTIONS.products.name, localField: '_id', foreignField: '_id', as: 'product' } },
            { $unwind: '$product' },
            { $replaceWith: '$product' },
          ],
          { batchSize: limit + 1 },
        )
        .toArray();
      return docs.map(toProduct);
    },

    async markIndexed(indexed) {
      if (indexed.length === 0) return;
      // An entry written again since (a higher version) stays.
      await outbox.bulkWrite(
        indexed.map((p) => ({ deleteOne: { filter: { _id: p.id, version: { $lte: p.version } } } })),
        { ordered: false },
      );
    },
  };
}
