import path from 'node:path';
import fs from 'node:fs';
import { PGlite, type Extension } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import { sql, type Placeholder, type Query, type SQL, type Logger as DrizzleLogger } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import type { Logger } from './logger';
import { answersWithin } from './store-unavailable';

// The package ships CommonJS for its contrib extensions but declares only ESM types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { pg_trgm } = require('@electric-sql/pglite/contrib/pg_trgm') as { pg_trgm: Extension };

/** A drizzle handle that runs the same on PGlite and on a PostgreSQL server. */
export type Db = PgDatabase<PgQueryResultHKT>;

/** What a store adapter holds: the drizzle handle plus lifecycle and a statement count. */
export interface Database {
  readonly db: Db;
  readonly kind: 'pglite' | 'postgres';
  /** Statements sent since start: batching tests and metrics read it. */
  readonly stats: { statements: number };
  /** Runs raw SQL and returns its rows, whichever driver is underneath. */
  rows<T>(query: SQL): Promise<T[]>;
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * One embedded PostgreSQL (PGlite) per data directory, shared by every subgraph of a
 * process, each in a schema of its own: a single instance costs a fraction of the
 * memory and start time of one per subgraph. No subgraph reads another's schema.
 */
export class EmbeddedPostgres {
  private static readonly open = new Map<string, Promise<EmbeddedPostgres>>();
  private users = 0;

  private constructor(
    readonly client: PGlite,
    private readonly key: string,
  ) {}

  /** `dataDir` of `memory://` keeps everything in memory (tests). */
  static async acquire(dataDir: string): Promise<EmbeddedPostgres> {
    const key = dataDir === 'memory://' ? `memory://${Math.random()}` : path.resolve(dataDir);
    let opening = EmbeddedPostgres.open.get(key);
    if (!opening) {
      if (dataDir !== 'memory://') fs.mkdirSync(key, { recursive: true });
      opening = PGlite.create(dataDir === 'memory://' ? undefined : key, { extensions: { pg_trgm } }).then(
        (client) => new EmbeddedPostgres(client, key),
      );
      if (dataDir !== 'memory://') EmbeddedPostgres.open.set(key, opening);
    }
    return (await opening).retain();
  }

  /** Another holder of this instance; each holder calls `release` once. */
  retain(): this {
    this.users += 1;
    return this;
  }

  async release(): Promise<void> {
    this.users -= 1;
    if (this.users > 0) return;
    EmbeddedPostgres.open.delete(this.key);
    if (!this.client.closed) await this.client.close();
  }
}

export interface OpenDatabaseOptions {
  /** Schema that holds this store's tables and migration journal. */
  schema: string;
  /** Folder of drizzle-kit migrations for this store. */
  migrationsFolder: string;
  /** PostgreSQL server URL; without it the store opens `embedded`. */
  url?: string;
  /** Embedded instance to use when there is no URL. */
  embedded?: EmbeddedPostgres;
  /** Connections in the pool on a real server; default 2 (`DB_POOL_SIZE`). */
  poolSize?: number;
  /** How long opening a connection may take before its query fails, in ms; default 2000. */
  connectTimeoutMs?: number;
  /** Longest a statement may run on a real server before the server cancels it, in ms; default 10000. */
  statementTimeoutMs?: number;
  /** Named prepared statements on a real server (see `preparing`); default true. */
  preparedStatements?: boolean;
  logger: Logger;
}

/** How long `ready` waits for the store to answer, in ms: a probe must not hang on a store that is down. */
const READY_TIMEOUT_MS = 1000;

/**
 * Seconds before a closed connection reconnects: 50 ms doubling up to 500 ms, jittered so
 * replicas do not reconnect in step. postgres-js passes a failure count shared by the whole
 * pool that only resets on a successful connect; its own backoff grows with it to 20 s, so
 * a store back after an outage would wait that long. The cap keeps the wait short.
 */
export function reconnectDelaySeconds(failures: number): number {
  const ceiling = Math.min(0.05 * 2 ** Math.min(Math.max(failures - 1, 0), 10), 0.5);
  return ceiling * (0.5 + Math.random() / 2);
}

function countingLogger(stats: { statements: number }, log: Logger): DrizzleLogger {
  return {
    logQuery(query) {
      stats.statements += 1;
      if (log.isLevelEnabled('trace')) log.trace({ query }, 'sql');
    },
  };
}

/** Statement texts a pool prepares by name at most; texts beyond are sent unnamed, as before. */
export const MAX_PREPARED_TEXTS = 1000;

/**
 * A list expanded into one parameter per element (`in ($1, $2, …)`, several rows of `values`):
 * a text per length, which would fill the server's memory with statements used once.
 */
const LIST_OF_PARAMETERS = /\bin \(\$\d+, \$|\), \(\$\d+/i;

/**
 * The postgres-js client with the statements drizzle sends prepared by name on their
 * connection. drizzle asks for that only for queries built with `.prepare(name)`; every
 * other statement went unnamed, so the server parsed, analysed and planned it on every call,
 * and postgres-js sent it in two round trips (Parse and Describe first, to learn the
 * parameter types, then Bind and Execute). Named, a statement the connection has seen is one
 * round trip, and reuses its parse and, once the server settles on a generic plan, its plan.
 * The server keeps each one for the life of the connection, so statements whose text
 * changes with the length of a list go unnamed, and only the first `MAX_PREPARED_TEXTS`
 * distinct texts are named. Transactions and savepoints hand drizzle a client of their own,
 * which is wrapped the same way.
 */
export function preparing<T extends postgres.Sql | postgres.TransactionSql>(client: T, named: Set<string> = new Set()): T {
  /** What is wrapped: the three ways a statement or a nested client comes out of a client. */
  type Client = {
    unsafe(query: string, parameters?: unknown[], options?: postgres.UnsafeQueryOptions): unknown;
    begin?(...args: unknown[]): unknown;
    savepoint?(...args: unknown[]): unknown;
  };
  const target = client as unknown as Client;
  /** `begin` and `savepoint` take an optional name or options, then the work, which gets the nested client. */
  const nesting =
    (open: (...args: unknown[]) => unknown) =>
    (...args: unknown[]) => {
      const work = args.pop() as (nested: T) => unknown;
      return open(...args, (nested: T) => work(preparing(nested, named)));
    };
  return new Proxy(client, {
    get(on, property, receiver) {
      if (property === 'unsafe') {
        return (query: string, parameters?: unknown[], options?: postgres.UnsafeQueryOptions) => {
          if (!named.has(query) && named.size < MAX_PREPARED_TEXTS && !LIST_OF_PARAMETERS.test(query)) named.add(query);
          return target.unsafe(query, parameters, { ...options, prepare: named.has(query) });
        };
      }
      if (property === 'begin' && target.begin) return nesting(target.begin.bind(target));
      if (property === 'savepoint' && target.savepoint) return nesting(target.savepoint.bind(target));
      return Reflect.get(on, property, receiver);
    },
  });
}

/** The rows of `execute`'s result, whichever driver produced it (a transaction's `execute` too). */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** What drizzle keeps on every handle and transaction, and does not declare. */
interface DrizzleInternals {
  dialect: { sqlToQuery(query: SQL): Query };
  session: { prepareQuery(query: Query, fields: undefined, name: undefined, arrayMode: false): { execute(values: Record<string, unknown>): Promise<unknown> } };
}

/**
 * A statement whose text is built once, on its first run: `build` returns it with
 * `sql.placeholder(name)` wherever a value goes, and each run only fills in `values`. A
 * statement written with values in place is put together anew from its pieces on every
 * call, which for a saga step's statement costs about as much client CPU as the round trip.
 * Runs on any handle or transaction, on either driver (both speak the same dialect).
 */
export function compiledStatement<V extends Record<string, unknown>>(build: () => SQL) {
  let query: Query | undefined;
  const compiled = (db: Db) => (query ??= (db as unknown as DrizzleInternals).dialect.sqlToQuery(build()));
  const run = async <T>(db: Db, values: V): Promise<T[]> => {
    const handle = db as unknown as DrizzleInternals;
    return rowsOf<T>(await handle.session.prepareQuery(compiled(db), undefined, undefined, false).execute(values));
  };
  /** The statement's text as PostgreSQL prepares it, `$1`... where the values go (to plan it in a test). */
  return Object.assign(run, { text: (db: Db) => compiled(db).sql });
}

/** A placeholder of a compiled statement, named after a key of its values. */
export function placeholder<V>(name: keyof V & string): Placeholder {
  return sql.placeholder(name);
}

/** Opens a store's database, applies its migrations, and returns a handle. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const stats = { statements: 0 };
  const logger = countingLogger(stats, options.logger);
  const migrationConfig = {
    migrationsFolder: options.migrationsFolder,
    // The journal lives beside, not inside, the store's schema: its first migration creates that schema.
    migrationsSchema: 'drizzle',
    migrationsTable: `${options.schema}_migrations`,
  };

  if (options.url) {
    const client = postgres(options.url, {
      max: options.poolSize ?? 2,
      onnotice: () => {},
      // A restart or failover must cost a moment, not a crash or a long stall: connections
      // fail fast while the server is down and come back soon after it answers.
      backoff: reconnectDelaySeconds,
      connect_timeout: (options.connectTimeoutMs ?? 2000) / 1000,
      idle_timeout: 60,
      connection: {
        application_name: `commerce-${options.schema}`,
        statement_timeout: options.statementTimeoutMs ?? 10_000,
      },
    });
    const db = drizzlePostgres(options.preparedStatements === false ? client : preparing(client), { logger });
    // Migrations may rightly run long (an index on a big table): their connection has no statement timeout.
    const migrator = postgres(options.url, {
      max: 1,
      onnotice: () => {},
      connect_timeout: (options.connectTimeoutMs ?? 2000) / 1000,
      connection: { application_name: `commerce-${options.schema}-migrate` },
    });
    try {
      await migratePostgres(drizzlePostgres(migrator, { logger }), migrationConfig);
    } finally {
      await migrator.end({ timeout: 5 });
    }
    let closed = false;
    return {
      db: db as unknown as Db,
      kind: 'postgres',
      stats,
      rows: async <T>(query: SQL) => rowsOf<T>(await db.execute(query)),
      ready: async () => !closed && (await answersWithin(client`select 1`.then(() => true), READY_TIMEOUT_MS)),
      close: async () => {
        if (closed) return;
        closed = true;
        await client.end({ timeout: 5 });
      },
    };
  }

  if (!options.embedded) throw new Error(`store ${options.schema}: neither a database URL nor an embedded instance`);
  const embedded = options.embedded.retain();
  const db = drizzlePglite(embedded.client, { logger });
  await migratePglite(db, migrationConfig);
  let closed = false;
  return {
    db: db as unknown as Db,
    kind: 'pglite',
    stats,
    rows: async <T>(query: SQL) => rowsOf<T>(await db.execute(query)),
    ready: async () => !closed && !embedded.client.closed && (await db.execute(sql`select 1`).then(() => true, () => false)),
    close: async () => {
      if (closed) return;
      closed = true;
      await embedded.release();
    },
  };
}
