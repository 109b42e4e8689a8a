import { MongoClient, MongoServerError, type Db, type Document, type IndexDescription, type TransactionOptions } from 'mongodb';
import type { Logger } from './logger';
import type { StoreHandle } from './server';
import { answersWithin } from './store-unavailable';

/**
 * What the shop's MongoDB stores share: how they connect (pool, timeouts), the check that
 * the server can run transactions, collections and indexes declared in code and created at
 * start, and the count of commands sent (batching tests, metrics).
 */

/**
 * Transactions read one snapshot on the primary and commit to a majority: a change is whole
 * or absent after a failover.
 */
export const TRANSACTION: TransactionOptions = { readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority' }, readPreference: 'primary' };

/** The server's code for a write refused by a unique index. */
export const DUPLICATE_KEY = 11000;

/** How long a readiness probe waits for the server, in ms: a probe must not hang on a store that is down. */
const READY_TIMEOUT_MS = 1000;

/** The server refused to create a collection that exists. */
const NAMESPACE_EXISTS = 48;

/** A collection as a store declares it: its indexes, and a validator when it has one. */
export interface CollectionSpec {
  name: string;
  indexes: readonly IndexDescription[];
  validator?: Document;
}

/** What opening a MongoDB store needs. */
export interface MongoStoreOptions {
  /** `mongodb://` or `mongodb+srv://` URL of a replica set. */
  url: string;
  /** Database holding the collections; default the one the URL names, else `defaultDatabase`. */
  database?: string;
  /** Connections kept to each server at most (MONGODB_POOL_SIZE). */
  poolSize: number;
  /** How long selecting a server, connecting and waiting on a socket may take, in ms (STORE_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  logger: Logger;
}

/**
 * A connected store's client and database, and its handle: ready while the server answers a
 * ping within a second, closed once, and the commands sent so far (readiness pings left out,
 * as on PostgreSQL).
 */
export interface MongoConnection extends StoreHandle {
  client: MongoClient;
  db: Db;
}

/** The database a MongoDB URL names in its path; undefined when it names none. */
export function databaseNameIn(url: string): string | undefined {
  const path = /^mongodb(?:\+srv)?:\/\/[^/?#]*\/([^?#]*)/.exec(url)?.[1];
  return path ? decodeURIComponent(path) : undefined;
}

/** `list` in pieces of at most `size`, in order. */
export function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * Connects a store: checks the server is a replica set (transactions need one; a one-node
 * one will do), creates its collections (with their validators) and indexes on a connection
 * of its own without the socket timeout, since building an index on a large collection may
 * rightly take longer than a request, then connects the store's pool. Fails, closing what it
 * opened, when the server cannot be reached within the request timeout.
 */
export async function openMongoStore(
  options: MongoStoreOptions,
  store: { name: string; defaultDatabase: string; collections: readonly CollectionSpec[] },
): Promise<MongoConnection> {
  const database = options.database ?? databaseNameIn(options.url) ?? store.defaultDatabase;
  const settings = {
    appName: `commerce-${store.name}`,
    // Every read sees the last write, as on PostgreSQL, whatever the URL asks for.
    readPreference: 'primary' as const,
    maxPoolSize: options.poolSize,
    serverSelectionTimeoutMS: options.requestTimeoutMs,
    connectTimeoutMS: options.requestTimeoutMs,
  };
  const setup = new MongoClient(options.url, { ...settings, maxPoolSize: 1 });
  try {
    const hello = await setup.db('admin').command({ hello: 1 });
    if (typeof hello.setName !== 'string' && hello.msg !== 'isdbgrid') {
      throw new Error(`the ${store.name} MongoDB is a standalone server: its transactions need a replica set (a one-node one will do)`);
    }
    const db = setup.db(database);
    for (const collection of store.collections) {
      const validation = collection.validator ? { validator: collection.validator, validationLevel: 'strict', validationAction: 'error' } as const : undefined;
      try {
        await db.createCollection(collection.name, validation ?? {});
      } catch (error) {
        if (!(error instanceof MongoServerError && error.code === NAMESPACE_EXISTS)) throw error;
        // The collection is there (an earlier start, or another replica just now): bring its validator up to date.
        if (validation) await db.command({ collMod: collection.name, ...validation });
      }
      await db.collection(collection.name).createIndexes([...collection.indexes]);
    }
  } finally {
    await setup.close();
  }

  const client = new MongoClient(options.url, { ...settings, socketTimeoutMS: options.requestTimeoutMs, monitorCommands: true });
  let statements = 0;
  const log = options.logger;
  client.on('commandStarted', (event) => {
    if (event.commandName === 'ping') return;
    statements += 1;
    if (log.isLevelEnabled('trace')) log.trace({ command: event.commandName, collection: event.command[event.commandName] }, 'mongodb');
  });
  try {
    await client.connect();
  } catch (error) {
    await client.close();
    throw error;
  }
  const db = client.db(database);
  let closed = false;
  return {
    client,
    db,
    statementCount: () => statements,
    ready: async () => !closed && (await answersWithin(db.command({ ping: 1 }).then(() => true), READY_TIMEOUT_MS)),
    close: async () => {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
}
