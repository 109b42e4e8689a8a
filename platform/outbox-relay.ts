import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { compiledStatement, placeholder, type Database, type Db } from './db';
import type { EventBus, EventEnvelope, EventHandler, EventType, SubscribeOptions, Subscription } from './events';
import type { Logger } from './logger';
import { eventsHandled, eventsPublished } from './metrics';
import type { EventTables } from './outbox';
import { PollingLoop } from './polling-loop';
import { isStoreUnavailable } from './store-unavailable';
import type { Worker } from './subgraph';

/** An outbox row as the claim returns it. */
interface ClaimedRow {
  id: string;
  seq: number | string;
  type: string;
  aggregate_id: string;
  occurred_at: string | Date;
  payload: unknown;
  request_id: string | null;
}

export interface OutboxRelayOptions {
  database: Database;
  tables: EventTables;
  bus: () => Promise<EventBus>;
  logger: Logger;
  /** How often to look for unpublished events, in ms. */
  pollMs: number;
  /**
   * Longest pause between looks while the outbox stays empty, in ms: each empty look doubles
   * the pause from `pollMs` up to this, and a notify or a published event brings it back to
   * `pollMs`. Writes in this process notify at once, so the pause only delays what another
   * replica wrote and could not publish itself. Default 5000 (never below `pollMs`).
   */
  idlePollMs?: number;
  /** With a bus that does not survive the process, how far back to publish again on start, in s; default 300. */
  republishWindowSeconds?: number;
  /** Events published per transaction; default 100. */
  batchSize?: number;
}

/**
 * Publishes a subgraph's outbox: rows written in the same transaction as the change
 * they announce are sent to the bus, then marked published. A crash between the two
 * sends them again (at least once); consumers deduplicate on the event id.
 * Replicas share the work: rows are claimed with SKIP LOCKED.
 */
export class OutboxRelay implements Worker {
  readonly name = 'outbox-relay';
  private batch: Promise<number> | undefined;
  /** The last attempt failed because the store is down. */
  private storeDown = false;
  private readonly loop: PollingLoop;
  /**
   * outbox-claim: the oldest unpublished events, skipping rows another replica holds, marked
   * published in the same statement. Insert order (`seq`): rows of one transaction share
   * created_at (its start), and a transaction that waited on a lock may have started before
   * the one it waited for.
   */
  private readonly claim = compiledStatement<{ batchSize: number }>(() => {
    const { outbox } = this.options.tables;
    return sql`-- name: outbox-claim
      update ${outbox} set published_at = now()
      where id in (
        select id from ${outbox} where published_at is null order by seq limit ${placeholder('batchSize')} for update skip locked
      )
      returning id, seq, type, aggregate_id, occurred_at, payload, request_id`;
  });

  constructor(private readonly options: OutboxRelayOptions) {
    this.loop = new PollingLoop({
      // Stops between batches once stopping, so nothing runs after `stop` resolves.
      pass: () => this.publishWaiting(() => this.loop.stopping),
      pollMs: options.pollMs,
      ...(options.idlePollMs !== undefined ? { idlePollMs: options.idlePollMs } : {}),
      // A write that notifies went to the outbox's own store: it answers again.
      notifyEndsRetryPause: true,
      onFailure: (err) => {
        // A store outage is said once, not on every poll while it lasts.
        if (!isStoreUnavailable(err)) this.options.logger.error({ err }, 'outbox relay failed; will retry');
        else if (!this.storeDown) this.options.logger.warn({ err }, 'outbox relay: store unavailable; will retry');
        this.storeDown ||= isStoreUnavailable(err);
      },
      onRecovery: () => {
        if (this.storeDown) this.options.logger.info('outbox relay: store answers again');
        this.storeDown = false;
      },
    });
  }

  async start(): Promise<void> {
    const bus = await this.options.bus();
    if (!bus.durable) await this.republishRecent();
    this.loop.start();
  }

  /**
   * An in-process bus loses what it had queued when the process dies, after the relay
   * marked it published. On start, recent events go out again; consumers deduplicate on
   * the event id, so whatever was already handled changes nothing.
   */
  private async republishRecent(): Promise<void> {
    const { outbox } = this.options.tables;
    const windowSeconds = this.options.republishWindowSeconds ?? 300;
    // outbox-republish: events published within the window become unpublished again.
    await this.options.database.db
      .update(outbox)
      .set({ publishedAt: null })
      .where(sql`${outbox.publishedAt} > now() - make_interval(secs => ${windowSeconds})`);
  }

  /** Publish soon: called after a transaction that wrote to the outbox commits. */
  notify(): void {
    this.loop.notify();
  }

  /** Publishes everything waiting now; resolves with how many events went out. */
  flush(): Promise<number> {
    return this.publishWaiting(() => false);
  }

  /** Stops polling; a batch being published finishes first. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.batch?.catch(() => 0);
  }

  private async publishWaiting(halt: () => boolean): Promise<number> {
    const batchSize = this.options.batchSize ?? 100;
    let total = 0;
    for (;;) {
      // Callers at the same moment share one batch rather than queueing behind each other's locks.
      const sent = await (this.batch ??= this.publishBatch().finally(() => (this.batch = undefined)));
      total += sent;
      if (sent < batchSize || halt()) return total;
    }
  }

  private async publishBatch(): Promise<number> {
    const { database } = this.options;
    const bus = await this.options.bus();
    return database.db.transaction(async (tx) => {
      // The mark commits only once the bus took the events: a failed publish rolls it back, and
      // a crash before the commit leaves them to be sent again.
      const rows = await this.claim<ClaimedRow>(tx as unknown as Db, { batchSize: this.options.batchSize ?? 100 });
      if (rows.length === 0) return 0;
      // UPDATE … RETURNING gives no order: publish in insert order (the driver may hand a bigint over as text).
      rows.sort((a, b) => Number(a.seq) - Number(b.seq));
      await bus.publish(
        rows.map(
          (row): EventEnvelope => ({
            id: row.id,
            type: row.type as EventType,
            aggregateId: row.aggregate_id,
            occurredAt: new Date(row.occurred_at).toISOString(),
            payload: row.payload as EventEnvelope['payload'],
            ...(row.request_id ? { requestId: row.request_id } : {}),
          }),
        ),
      );
      for (const row of rows) eventsPublished.inc({ type: row.type });
      return rows.length;
    });
  }
}

export interface EventConsumerOptions extends SubscribeOptions {
  /** How long, in all, a handler waits for a store that is down before its delivery fails, in ms; default 30000. */
  storeOutageWaitMs?: number;
}

/** First and longest pause between attempts of a handler whose store is down, in ms. */
const OUTAGE_FIRST_PAUSE_MS = 100;
const OUTAGE_LONGEST_PAUSE_MS = 2000;

/**
 * Runs `attempt`, and again while it fails because a store is down, pausing a little
 * longer each time, until `waitMs` have passed or `signal` aborts; then its last error
 * stands. Any other failure stands at once.
 */
export async function retryWhileStoreUnavailable<T>(attempt: () => Promise<T>, waitMs: number, signal: AbortSignal): Promise<T> {
  const deadline = Date.now() + waitMs;
  let pause = OUTAGE_FIRST_PAUSE_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      const left = deadline - Date.now();
      if (!isStoreUnavailable(error) || signal.aborted || left <= 0) throw error;
      await sleep(Math.min(pause, left), undefined, { signal }).catch(() => {});
      if (signal.aborted) throw error;
      pause = Math.min(pause * 2, OUTAGE_LONGEST_PAUSE_MS);
    }
  }
}

/**
 * An event consumer as a worker: subscribes on start, unsubscribes on stop. A handler
 * that fails because its store is down is retried in place: an outage must not spend
 * deliveries, or events would be dead-lettered for no fault of their own. Handlers are
 * idempotent, so running one again after a commit whose answer was lost changes nothing.
 */
export function eventConsumer(
  bus: () => Promise<EventBus>,
  group: string,
  types: readonly EventType[],
  handler: EventHandler,
  options: EventConsumerOptions = {},
): Worker {
  const { storeOutageWaitMs = 30_000, ...subscribeOptions } = options;
  let subscription: Subscription | undefined;
  let stopping: AbortController | undefined;
  return {
    name: `consumer:${group}`,
    consumes: true,
    start: async () => {
      const signal = (stopping = new AbortController()).signal;
      // Counted per delivery: a failed one is retried, and dead-lettered after the last attempt.
      const counted: EventHandler = async (event) => {
        try {
          await retryWhileStoreUnavailable(() => handler(event), storeOutageWaitMs, signal);
          eventsHandled.inc({ group, outcome: 'ok' });
        } catch (error) {
          eventsHandled.inc({ group, outcome: 'failed' });
          throw error;
        }
      };
      subscription = (await bus()).subscribe(group, types, counted, subscribeOptions);
    },
    stop: async () => {
      // A handler waiting for its store gives up now, so closing does not wait out the outage.
      stopping?.abort();
      await subscription?.close();
      subscription = undefined;
    },
  };
}
