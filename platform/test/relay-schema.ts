/** A schema holding only the event tables, for the outbox relay's tests. */
import { pgSchema } from 'drizzle-orm/pg-core';
import { eventTables } from '../outbox';

export const relayTest = pgSchema('relay_test');
export const { outbox, processedMessages } = eventTables(relayTest);
