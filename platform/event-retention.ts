import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { sql, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Database } from './db';
import type { Logger } from './logger';
import { eventsPruned } from './metrics';
import type { EventTables } from './outbox';
import { periodicWorker } from './periodic';
import type { Worker } from './subgraph';

/** Records of one table that retention deletes once they are old enough. */
export interface RetainedRecords {
  /** The table, as metrics and logs name it. */
  table: string;
  /** A statement deleting up to `limit` rows past their retention and returning a row for each. */
  prune(limit: number): SQL;
}

/**
 * Rows of `from` whose `keptFrom` time is more than `retentionSeconds` ago, `table` in metrics
 * and logs. Found through an index on `keptFrom`, then deleted by their physical row ids:
 * matched by key instead (`where id in (select id …)`), the planner joins the batch against
 * a scan of the whole table, every batch.
 */
export function expiredRows(table: string, from: PgTable, keptFrom: SQL, retentionSeconds: number): RetainedRecords {
  const name = sql.raw(`-- name: ${table.replaceAll('_', '-')}-prune`);
  return {
    table,
    prune: (limit) => sql`${name}
      delete from ${from} where ctid = any(array(
        select ctid from ${from}
        where ${keptFrom} < now() - make_interval(secs => ${retentionSeconds})
        limit ${limit} for update skip locked
      ))
      returning 1 as gone`,
  };
}

/**
 * Published events of an outbox older than `retentionSeconds` since they went out. By then the
 * bus has them, and a relay publishing again after a restart (an in-process bus) reaches back
 * minutes, not hours. Unpublished events are never deleted, however old.
 */
export function publishedEvents(outbox: EventTables['outbox'], retentionSeconds: number): RetainedRecords {
  return expiredRows('outbox', outbox, sql`published_at`, retentionSeconds);
}

/**
 * A consumer's records of the messages it processed, older than `retentionSeconds`: long
 * enough that no redelivery of the message they stand for can still come.
 */
export function processedMessageRecords(processedMessages: EventTables['processedMessages'], retentionSeconds: number): RetainedRecords {
  return expiredRows('processed_messages', processedMessages, sql`processed_at`, retentionSeconds);
}

export interface EventRetentionOptions {
  database: Database;
  records: readonly RetainedRecords[];
  /** Rows deleted per statement; default 1000. Each statement holds its row locks only while it runs. */
  batchSize?: number;
}

/**
 * Keeps a subgraph's event records (its outbox, its processed messages and the like) from
 * growing without end. Deletes go a batch per statement, each its own transaction, through an
 * index on the time each record is kept from, so a sweep after a long pause never holds locks
 * on a large part of a table. Replicas may all sweep: rows another replica is deleting are
 * skipped, not waited for.
 */
export class EventRetention {
  constructor(private readonly options: EventRetentionOptions) {}

  /** Deletes what is past its retention now; resolves with how many rows went, by table. */
  async prune(): Promise<Record<string, number>> {
    const pruned: Record<string, number> = {};
    for (const records of this.options.records) pruned[records.table] = await this.inBatches(records);
    return pruned;
  }

  /** Runs the table's statement until one deletes fewer rows than it may; yields to other work between batches. */
  private async inBatches(records: RetainedRecords): Promise<number> {
    const limit = this.options.batchSize ?? 1000;
    let total = 0;
    for (;;) {
      const gone = (await this.options.database.rows<{ gone: number }>(records.prune(limit))).length;
      total += gone;
      if (gone < limit) return total;
      await yieldToEventLoop();
    }
  }
}

export interface EventRetentionConfig {
  OUTBOX_RETENTION_SECONDS: number;
  PROCESSED_MESSAGE_RETENTION_SECONDS: number;
  EVENT_RETENTION_SWEEP_SECONDS: number;
}

/**
 * The worker that deletes a store's event records past their retention every
 * `EVENT_RETENTION_SWEEP_SECONDS`, the first that long after it starts (not among the work of
 * starting): its published events (when it has an outbox), its processed messages, and `more`.
 * A sweep that fails (the store is down) is logged and tried again at the next.
 */
export function eventRetentionWorker(
  subgraph: string,
  database: Database,
  tables: Partial<Pick<EventTables, 'outbox'>> & Pick<EventTables, 'processedMessages'>,
  config: EventRetentionConfig,
  logger: Logger,
  more: readonly RetainedRecords[] = [],
): Worker {
  const retention = new EventRetention({
    database,
    records: [
      ...(tables.outbox ? [publishedEvents(tables.outbox, config.OUTBOX_RETENTION_SECONDS)] : []),
      processedMessageRecords(tables.processedMessages, config.PROCESSED_MESSAGE_RETENTION_SECONDS),
      ...more,
    ],
  });
  const log = logger.child({ component: 'event-retention' });
  const intervalMs = config.EVENT_RETENTION_SWEEP_SECONDS * 1000;
  return periodicWorker(
    'event-retention',
    intervalMs,
    async () => {
      const pruned = await retention.prune();
      for (const [table, rows] of Object.entries(pruned)) if (rows > 0) eventsPruned.inc({ subgraph, table }, rows);
      if (Object.values(pruned).some((rows) => rows > 0)) log.debug({ pruned }, 'event records past their retention deleted');
    },
    log,
    intervalMs,
  );
}
