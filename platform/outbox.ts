/**
 * Transactional outbox and processed-message records: a subgraph writes its events
 * in the same transaction as the change they announce, and records each event it
 * consumed in the same transaction as the effect, so a redelivery changes nothing.
 */
import { sql, type Placeholder, type SQL } from 'drizzle-orm';
import { bigint, index, jsonb, primaryKey, text, timestamp, type PgSchema } from 'drizzle-orm/pg-core';
import type { Db } from './db';
import type { EventEnvelope } from './events';

/** The outbox and processed-message tables of one subgraph's schema. */
export function eventTables(schema: PgSchema) {
  const outbox = schema.table(
    'outbox',
    {
      id: text('id').primaryKey(),
      /** Insert order: events go out in the order they were written, within a transaction and across. */
      seq: bigint('seq', { mode: 'number' }).generatedAlwaysAsIdentity(),
      type: text('type').notNull(),
      aggregateId: text('aggregate_id').notNull(),
      occurredAt: timestamp('occurred_at', { withTimezone: true, mode: 'string' }).notNull(),
      payload: jsonb('payload').notNull(),
      requestId: text('request_id'),
      createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
      publishedAt: timestamp('published_at', { withTimezone: true }),
    },
    (t) => [
      index('outbox_unpublished_seq_idx').on(t.seq).where(sql`published_at is null`),
      // What retention removes: published events, oldest first.
      index('outbox_published_at_idx').on(t.publishedAt).where(sql`published_at is not null`),
    ],
  );
  return { outbox, processedMessages: processedMessagesTable(schema) };
}

/** The processed-message table alone, for a subgraph that consumes events and announces none. */
export function processedMessagesTable(schema: PgSchema) {
  return schema.table(
    'processed_messages',
    {
      consumer: text('consumer').notNull(),
      messageId: text('message_id').notNull(),
      processedAt: timestamp('processed_at', { withTimezone: true }).notNull().defaultNow(),
    },
    (t) => [
      primaryKey({ columns: [t.consumer, t.messageId] }),
      // What retention removes: records older than any redelivery.
      index('processed_messages_processed_at_idx').on(t.processedAt),
    ],
  );
}

export type EventTables = ReturnType<typeof eventTables>;

/** Writes events to the outbox inside the caller's transaction; the relay publishes them after commit. */
export async function enqueueEvents(tx: Db, tables: EventTables, events: readonly EventEnvelope[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(tables.outbox).values(
    events.map((e) => ({
      id: e.id,
      type: e.type,
      aggregateId: e.aggregateId,
      occurredAt: e.occurredAt,
      payload: e.payload,
      requestId: e.requestId ?? null,
    })),
  );
}

/**
 * Records that `consumer` processed `messageId`, inside the caller's transaction.
 * Returns false when it already had: the caller must then skip the effect.
 */
export async function markProcessed(tx: Db, tables: Pick<EventTables, 'processedMessages'>, consumer: string, messageId: string): Promise<boolean> {
  const inserted = await tx
    .insert(tables.processedMessages)
    .values({ consumer, messageId })
    .onConflictDoNothing()
    .returning({ messageId: tables.processedMessages.messageId });
  return inserted.length > 0;
}

/** Values of the placeholders `outboxInsertOf` leaves: events as one array per outbox column. */
export type OutboxValues = {
  eventIds: string[];
  eventTypes: string[];
  eventAggregateIds: string[];
  eventOccurredAts: string[];
  /** Each payload as JSON text. */
  eventPayloads: string[];
  eventRequestIds: (string | null)[];
};

/** `events` as the column arrays an outbox insert takes. */
export function outboxValues(events: readonly EventEnvelope[]): OutboxValues {
  return {
    eventIds: events.map((e) => e.id),
    eventTypes: events.map((e) => e.type),
    eventAggregateIds: events.map((e) => e.aggregateId),
    eventOccurredAts: events.map((e) => e.occurredAt),
    eventPayloads: events.map((e) => JSON.stringify(e.payload)),
    eventRequestIds: events.map((e) => e.requestId ?? null),
  };
}

function outboxInsertFrom(tables: Pick<EventTables, 'outbox'>, column: (name: keyof OutboxValues) => SQL | Placeholder, when: SQL): SQL {
  // Text arrays cast in SQL, so both drivers send plain strings whatever they do with JSON and timestamps.
  return sql`insert into ${tables.outbox} (id, type, aggregate_id, occurred_at, payload, request_id)
    select id, type, aggregate_id, occurred_at::timestamptz, payload::jsonb, request_id
    from unnest(
      ${column('eventIds')}::text[],
      ${column('eventTypes')}::text[],
      ${column('eventAggregateIds')}::text[],
      ${column('eventOccurredAts')}::text[],
      ${column('eventPayloads')}::text[],
      ${column('eventRequestIds')}::text[]) with ordinality
      as e(id, type, aggregate_id, occurred_at, payload, request_id, ordinal)
    where ${when}
    order by ordinal`;
}

/**
 * An INSERT of `events` into the outbox, in their order, to run as a data-modifying CTE of a
 * larger statement (`with changed as (…), announced as (${outboxInsert(…)}) select …`), so a
 * change and its events take one round trip; with `when`, only where that condition holds
 * (`exists (select 1 from changed)`). Each column travels as one array parameter, so the
 * statement's text stays the same whatever the number of events.
 */
export function outboxInsert(tables: Pick<EventTables, 'outbox'>, events: readonly EventEnvelope[], when: SQL = sql`true`): SQL {
  const values = outboxValues(events);
  return outboxInsertFrom(tables, (name) => sql`${sql.param(values[name])}`, when);
}

/** `outboxInsert` for a compiled statement: the events are its `OutboxValues` placeholders. */
export function outboxInsertOf(tables: Pick<EventTables, 'outbox'>, when: SQL = sql`true`): SQL {
  return outboxInsertFrom(tables, (name) => sql.placeholder(name), when);
}

/**
 * Records that a consumer processed messages, as a data-modifying CTE of the statement that
 * makes their effect (`with processed as (${processedInsertFrom(…)}), …` joined to the
 * messages it yields): `source` is a relation of the statement (a CTE) with `consumer` and
 * `message_id` columns, one row per message. It yields `consumer, message_id` of each message
 * the first time only, so a redelivery changes nothing, and writes the rows in key order, the
 * order concurrent statements lock them in.
 */
export function processedInsertFrom(tables: Pick<EventTables, 'processedMessages'>, source: string): SQL {
  return sql`insert into ${tables.processedMessages} (consumer, message_id)
    select consumer, message_id from ${sql.identifier(source)}
    order by consumer collate "C", message_id collate "C"
    on conflict do nothing
    returning consumer, message_id`;
}
