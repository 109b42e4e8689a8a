/**
 * Customers, sessions and partner API keys in MongoDB, with the official driver.
 *
 * Collections (every `_id` is the record's own id, a string):
 *
 * - `customers`: one document per customer, addresses embedded, oldest first:
 *   `{ _id, email, emailKey, name, passwordHash, scopes, addresses: [{ id, line1, line2, city,
 *   region, postalCode, country }], createdAt }`. `email` is kept as given; `emailKey` is it in
 *   lower case, under the unique index `customers_email_key_unique`, so two sign-ups with the
 *   same address in any case cannot both land, however close together they arrive.
 * - `sessions`: one document per signed-in device:
 *   `{ _id, customerId, createdAt, lastUsedAt, userAgent, endedAt, refreshHash,
 *   refreshExpiresAt, retiredHashes }`. `refreshHash` (unique) is the SHA-256 of the current
 *   refresh token; `retiredHashes` (indexed) are those it rotated away from, so presenting one
 *   again is recognised as reuse. The TTL index `sessions_refresh_expiry_ttl` lets the server
 *   delete a session once its refresh token has expired; the sweeper (`deleteStaleSessions`)
 *   still removes long-ended ones sooner.
 * - `api_keys`: one document per partner key:
 *   `{ _id, name, prefix, secretHash, maximumAvailable, restoreRate, createdAt, lastUsedAt,
 *   revokedAt }`, the secret's hash under the unique index `api_keys_secret_hash_unique`.
 *
 * Dates are BSON dates. Indexes are declared below and created at start (creating an index
 * that exists is a no-op). Writes that go together (a password change and the sessions it
 * ends, a bulk import) run in a transaction, so the server must be a replica set; a one-node
 * replica set will do.
 */
import { MongoServerError, type ClientSession, type Collection, type Filter, type IndexDescription } from 'mongodb';
import type { Scope } from '../../../platform/auth';
import { chunks, DUPLICATE_KEY, openMongoStore, TRANSACTION, type MongoConnection, type MongoStoreOptions } from '../../../platform/mongo';
import type { AddressRecord, ApiKeyRecord, CustomerRecord, CustomerStore, SessionRecord, StoredApiKey, StoredCustomer } from './port';

/** The database used when the URL names none. */
export const DEFAULT_CUSTOMER_DATABASE = 'customer';


/** Ids or emails looked up per query when a bulk import checks which customers exist. */
const LOOKUP_CHUNK = 1000;

/** Times a bulk import starts over when a customer it was about to add appeared meanwhile. */
const INSERT_MANY_ATTEMPTS = 3;


interface CustomerDocument {
  _id: string;
  email: string;
  /** `email` in lower case: what the unique index and sign-in compare. */
  emailKey: string;
  name: string;
  passwordHash: string;
  scopes: Scope[];
  addresses: AddressRecord[];
  createdAt: Date;
}

interface SessionDocument {
  _id: string;
  customerId: string;
  createdAt: Date;
  lastUsedAt: Date;
  userAgent: string | null;
  endedAt: Date | null;
  refreshHash: string;
  refreshExpiresAt: Date;
  retiredHashes: string[];
}

interface ApiKeyDocument {
  _id: string;
  name: string;
  prefix: string;
  secretHash: string;
  maximumAvailable: number;
  restoreRate: number;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** Collection names, and the indexes each needs; created at start. */
export const CUSTOMER_COLLECTIONS = {
  customers: {
    name: 'customers',
    indexes: [{ key: { emailKey: 1 }, name: 'customers_email_key_unique', unique: true }],
  },
  sessions: {
    name: 'sessions',
    indexes: [
      { key: { refreshHash: 1 }, name: 'sessions_refresh_hash_unique', unique: true },
      // Not unique: a unique multikey index would also refuse two sessions that retired nothing yet.
      { key: { retiredHashes: 1 }, name: 'sessions_retired_hashes' },
      { key: { customerId: 1, createdAt: 1, _id: 1 }, name: 'sessions_customer_created' },
      { key: { endedAt: 1 }, name: 'sessions_ended_at' },
      // The server deletes a session once its refresh token has expired (checked about once a minute).
      { key: { refreshExpiresAt: 1 }, name: 'sessions_refresh_expiry_ttl', expireAfterSeconds: 0 },
    ],
  },
  apiKeys: {
    name: 'api_keys',
    indexes: [
      { key: { secretHash: 1 }, name: 'api_keys_secret_hash_unique', unique: true },
      { key: { createdAt: -1, _id: 1 }, name: 'api_keys_newest_first' },
    ],
  },
} as const satisfies Record<string, { name: string; indexes: IndexDescription[] }>;

const emailKey = (email: string) => email.toLowerCase();

const isDuplicateKey = (error: unknown) => error instanceof MongoServerError && error.code === DUPLICATE_KEY;

function toAddress(a: AddressRecord): AddressRecord {
  return { id: a.id, line1: a.line1, line2: a.line2 ?? null, city: a.city, region: a.region ?? null, postalCode: a.postalCode, country: a.country };
}

function toDocument(customer: StoredCustomer): CustomerDocument {
  return {
    _id: customer.id,
    email: customer.email,
    emailKey: emailKey(customer.email),
    name: customer.name,
    passwordHash: customer.passwordHash,
    scopes: [...customer.scopes],
    addresses: customer.addresses.map(toAddress),
    createdAt: customer.createdAt,
  };
}

function toRecord(doc: CustomerDocument): CustomerRecord {
  return {
    id: doc._id,
    email: doc.email,
    name: doc.name,
    scopes: doc.scopes,
    addresses: (doc.addresses ?? []).map(toAddress),
    createdAt: doc.createdAt,
  };
}

function toStored(doc: CustomerDocument): StoredCustomer {
  return { ...toRecord(doc), passwordHash: doc.passwordHash };
}

function toSession(doc: SessionDocument): SessionRecord {
  return {
    id: doc._id,
    customerId: doc.customerId,
    createdAt: doc.createdAt,
    lastUsedAt: doc.lastUsedAt,
    userAgent: doc.userAgent,
    endedAt: doc.endedAt,
    refreshExpiresAt: doc.refreshExpiresAt,
  };
}

function toApiKey(doc: ApiKeyDocument): ApiKeyRecord {
  return {
    id: doc._id,
    name: doc.name,
    prefix: doc.prefix,
    maximumAvailable: doc.maximumAvailable,
    restoreRate: doc.restoreRate,
    createdAt: doc.createdAt,
    lastUsedAt: doc.lastUsedAt,
    revokedAt: doc.revokedAt,
  };
}

/**
 * Opens the customer store on MongoDB: checks the server is a replica set, creates the
 * indexes, and connects. Fails, closing what it opened, when the server cannot be reached
 * within the request timeout.
 */
export async function openMongoCustomerStore(options: MongoStoreOptions): Promise<CustomerStore> {
  const connection = await openMongoStore(options, {
    name: 'customer',
    defaultDatabase: DEFAULT_CUSTOMER_DATABASE,
    collections: Object.values(CUSTOMER_COLLECTIONS),
  });
  return mongoCustomerStore(connection);
}

function mongoCustomerStore(connection: MongoConnection): CustomerStore {
  const { client, db } = connection;
  const customers: Collection<CustomerDocument> = db.collection(CUSTOMER_COLLECTIONS.customers.name);
  const sessions: Collection<SessionDocument> = db.collection(CUSTOMER_COLLECTIONS.sessions.name);
  const apiKeys: Collection<ApiKeyDocument> = db.collection(CUSTOMER_COLLECTIONS.apiKeys.name);

  const inTransaction = <T>(work: (session: ClientSession) => Promise<T>): Promise<T> =>
    client.withSession((session) => session.withTransaction(work, TRANSACTION));

  /** Ends the customer's sessions that have not ended, but `keep`; inside a transaction, so the ids are exactly those it ended. */
  async function endOpenSessions(session: ClientSession, customerId: string, now: Date, keep?: string): Promise<string[]> {
    const filter: Filter<SessionDocument> = keep ? { customerId, endedAt: null, _id: { $ne: keep } } : { customerId, endedAt: null };
    const open = await sessions.find(filter, { session, projection: { _id: 1 } }).toArray();
    const ids = open.map((s) => s._id);
    if (ids.length > 0) await sessions.updateMany({ _id: { $in: ids }, endedAt: null }, { $set: { endedAt: now } }, { session });
    return ids;
  }

  /** Of `list`, those whose id and email are free, in order; a later one repeating an earlier one's id or email is left out. */
  async function newCustomers(session: ClientSession, list: readonly StoredCustomer[]): Promise<CustomerDocument[]> {
    const docs = list.map(toDocument);
    const takenIds = new Set<string>();
    const takenKeys = new Set<string>();
    for (const part of chunks(docs, LOOKUP_CHUNK)) {
      const existing = await customers
        .find(
          { $or: [{ _id: { $in: part.map((d) => d._id) } }, { emailKey: { $in: part.map((d) => d.emailKey) } }] },
          { session, projection: { _id: 1, emailKey: 1 } },
        )
        .toArray();
      for (const found of existing) {
        takenIds.add(found._id);
        takenKeys.add(found.emailKey);
      }
    }
    const fresh: CustomerDocument[] = [];
    for (const doc of docs) {
      if (takenIds.has(doc._id) || takenKeys.has(doc.emailKey)) continue;
      takenIds.add(doc._id);
      takenKeys.add(doc.emailKey);
      fresh.push(doc);
    }
    return fresh;
  }

  return {
    ready: connection.ready,
    close: connection.close,
    statementCount: connection.statementCount,

    async findByIds(ids) {
      if (ids.length === 0) return [];
      // One round trip: a first batch larger than the answer can be leaves no cursor to fetch more from.
      const docs = await customers
        .find({ _id: { $in: [...ids] } }, { projection: { passwordHash: 0 }, batchSize: ids.length + 1 })
        .toArray();
      return docs.map(toRecord);
    },

    async findByEmail(email) {
      const doc = await customers.findOne({ emailKey: emailKey(email) });
      return doc ? toStored(doc) : null;
    },

    async insert(customer) {
      const doc = toDocument(customer);
      try {
        await customers.insertOne(doc);
      } catch (error) {
        // The id, or the email in any case, is taken: the unique indexes decide, so a race has one winner.
        if (isDuplicateKey(error)) return { kind: 'duplicate' };
        throw error;
      }
      return toRecord(doc);
    },

    async addAddress(customerId, address, limit) {
      if (limit > 0) {
        // One conditional update: the document matches only while it has no address at index limit-1.
        const appended = await customers.updateOne(
          { _id: customerId, [`addresses.${limit - 1}`]: { $exists: false } },
          { $push: { addresses: toAddress(address) } },
        );
        if (appended.matchedCount === 1) return address;
      }
      const exists = await customers.findOne({ _id: customerId }, { projection: { _id: 1 } });
      return exists ? { kind: 'limit-reached', limit } : { kind: 'not-found' };
    },

    async isEmpty() {
      return (await customers.findOne({}, { projection: { _id: 1 } })) === null;
    },

    async insertMany(list) {
      if (list.length === 0) return 0;
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await inTransaction(async (session) => {
            const fresh = await newCustomers(session, list);
            if (fresh.length > 0) await customers.insertMany(fresh, { session });
            return fresh.length;
          });
        } catch (error) {
          // A customer with one of these ids or emails was added since the look-up: look again.
          if (attempt < INSERT_MANY_ATTEMPTS && isDuplicateKey(error)) continue;
          throw error;
        }
      }
    },

    async findCredentials(customerId) {
      const doc = await customers.findOne({ _id: customerId });
      return doc ? toStored(doc) : null;
    },

    changePassword(customerId, passwordHash, now, keepSessionId) {
      return inTransaction(async (session) => {
        const changed = await customers.updateOne({ _id: customerId }, { $set: { passwordHash } }, { session });
        if (changed.matchedCount === 0) return { kind: 'not-found' as const };
        return { endedSessionIds: await endOpenSessions(session, customerId, now, keepSessionId) };
      });
    },

    async startSession(session) {
      const doc: SessionDocument = {
        _id: session.id,
        customerId: session.customerId,
        createdAt: session.createdAt,
        lastUsedAt: session.createdAt,
        userAgent: session.userAgent,
        endedAt: null,
        refreshHash: session.refreshHash,
        refreshExpiresAt: session.refreshExpiresAt,
        retiredHashes: [],
      };
      await sessions.insertOne(doc);
      return toSession(doc);
    },

    async rotateRefreshToken(presentedHash, next, now) {
      // One atomic update: of concurrent rotations of the same token exactly one matches; the
      // token it replaces is retired in the same write, so the others find it there.
      const rotated = await sessions.findOneAndUpdate(
        { refreshHash: presentedHash, endedAt: null, refreshExpiresAt: { $gt: now } },
        {
          $set: { refreshHash: next.hash, refreshExpiresAt: next.expiresAt, lastUsedAt: now },
          $push: { retiredHashes: presentedHash },
        },
        { returnDocument: 'after' },
      );
      if (rotated) return { kind: 'rotated', session: toSession(rotated) };
      // A retired token presented again: end its session, if it still lasts.
      const ended = await sessions.findOneAndUpdate(
        { retiredHashes: presentedHash, endedAt: null },
        { $set: { endedAt: now } },
        { returnDocument: 'after' },
      );
      if (ended) return { kind: 'reused', session: toSession(ended), endedNow: true };
      const found = await sessions.findOne({ $or: [{ refreshHash: presentedHash }, { retiredHashes: presentedHash }] });
      if (!found) return { kind: 'unknown' };
      // Still the current token, yet not rotated: its session ended or expired.
      return found.refreshHash === presentedHash ? { kind: 'inactive' } : { kind: 'reused', session: toSession(found), endedNow: false };
    },

    async endSession(customerId, sessionId, now) {
      const ended = await sessions.updateOne({ _id: sessionId, customerId, endedAt: null }, { $set: { endedAt: now } });
      return ended.matchedCount === 1;
    },

    endCustomerSessions(customerId, now) {
      return inTransaction((session) => endOpenSessions(session, customerId, now));
    },

    async activeSessions(customerId, now) {
      const docs = await sessions
        .find({ customerId, endedAt: null, refreshExpiresAt: { $gt: now } })
        .sort({ createdAt: 1, _id: 1 })
        .toArray();
      return docs.map(toSession);
    },

    async sessionsEndedSince(since) {
      const docs = await sessions.find({ endedAt: { $gt: since } }, { projection: { endedAt: 1 } }).toArray();
      return docs.map((s) => ({ id: s._id, endedAt: s.endedAt as Date }));
    },

    async deleteStaleSessions(now, endedBefore) {
      // Retired tokens live inside their session and go with it.
      const deleted = await sessions.deleteMany({ $or: [{ refreshExpiresAt: { $lt: now } }, { endedAt: { $lt: endedBefore } }] });
      return deleted.deletedCount;
    },

    async createApiKey(key: StoredApiKey) {
      const { id, ...rest } = key;
      const doc: ApiKeyDocument = { _id: id, ...rest };
      await apiKeys.insertOne(doc);
      return toApiKey(doc);
    },

    async listApiKeys() {
      const docs = await apiKeys.find({}).sort({ createdAt: -1, _id: 1 }).toArray();
      return docs.map(toApiKey);
    },

    async activeApiKeys() {
      const docs = await apiKeys.find({ revokedAt: null }).toArray();
      return docs.map((doc) => ({ ...toApiKey(doc), secretHash: doc.secretHash }));
    },

    async revokeApiKey(id, now) {
      // One update: the first revocation's time stays.
      const doc = await apiKeys.findOneAndUpdate({ _id: id }, [{ $set: { revokedAt: { $ifNull: ['$revokedAt', now] } } }], {
        returnDocument: 'after',
      });
      return doc ? toApiKey(doc) : null;
    },

    async recordApiKeyUse(usage) {
      if (usage.length === 0) return;
      // Every key of the batch in one command; $max keeps a later time against an earlier one (and beats null).
      await apiKeys.bulkWrite(
        usage.map(({ id, at }) => ({ updateOne: { filter: { _id: id }, update: { $max: { lastUsedAt: at } } } })),
        { ordered: false },
      );
    },
  };
}
