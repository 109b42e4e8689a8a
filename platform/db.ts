import path from 'node:path';
import fs from 'node:fs';
import { PGlite, type Extension } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import { sql, type SQL, type Logger as DrizzleLogger } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import type { Logger } from './logger';

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
  /** Connections in the pool on a real server; default 10. */
  poolSize?: number;
  logger: Logger;
}

function countingLogger(stats: { statements: number }, log: Logger): DrizzleLogger {
  return {
    logQuery(query) {
      stats.statements += 1;
      if (log.isLevelEnabled('trace')) log.trace({ query }, 'sql');
    },
  };
}

/** The rows of `execute`'s result, whichever driver produced it (a transaction's `execute` too). */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
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
      max: options.poolSize ?? 10,
      onnotice: () => {},
      connection: { application_name: `commerce-${options.schema}` },
    });
    const db = drizzlePostgres(client, { logger });
    await migratePostgres(db, migrationConfig);
    let closed = false;
    return {
      db: db as unknown as Db,
      kind: 'postgres',
      stats,
      rows: async <T>(query: SQL) => rowsOf<T>(await db.execute(query)),
      ready: async () => !closed && (await client`select 1`.then(() => true, () => false)),
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
