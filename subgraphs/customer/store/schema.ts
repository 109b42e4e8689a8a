import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgSchema, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import type { Scope } from '../../../platform/auth';
import type { AddressRecord } from './port';

/** Customer owns this schema; no other subgraph reads it. */
export const customer = pgSchema('customer');

/**
 * A customer document as kept in `doc`: the shape a MongoDB collection holds, so the
 * two adapters store the same thing. Dates are ISO 8601 text inside JSON.
 */
export interface CustomerDocument {
  name: string;
  passwordHash: string;
  scopes: Scope[];
  addresses: AddressRecord[];
  createdAt: string;
}

export const customers = customer.table(
  'customers',
  {
    id: text('id').primaryKey(),
    // Outside the document so the database itself keeps addresses unique.
    email: text('email').notNull(),
    doc: jsonb('doc').$type<CustomerDocument>().notNull(),
  },
  (t) => [uniqueIndex('customers_email_lower_unique').on(sql`lower(${t.email})`)],
);

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** A signed-in device: one per sign-in, kept alive by rotating its refresh token. */
export const sessions = customer.table(
  'sessions',
  {
    id: text('id').primaryKey(),
    customerId: text('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    createdAt: at('created_at').notNull(),
    lastUsedAt: at('last_used_at').notNull(),
    userAgent: text('user_agent'),
    endedAt: at('ended_at'),
    // SHA-256 of the current refresh token, base64url: the token itself is never stored.
    refreshHash: text('refresh_hash').notNull(),
    refreshExpiresAt: at('refresh_expires_at').notNull(),
  },
  (t) => [
    uniqueIndex('sessions_refresh_hash_unique').on(t.refreshHash),
    index('sessions_customer_idx').on(t.customerId),
    index('sessions_refresh_expires_idx').on(t.refreshExpiresAt),
  ],
);

/** Refresh tokens a session rotated away from: presenting one again is reuse of a stolen token. */
export const retiredRefreshTokens = customer.table(
  'retired_refresh_tokens',
  {
    refreshHash: text('refresh_hash').primaryKey(),
    sessionId: text('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    retiredAt: at('retired_at').notNull(),
  },
  (t) => [index('retired_refresh_tokens_session_idx').on(t.sessionId)],
);

/**
 * Keys partners send as `X-Api-Key` to the router's partner endpoint. Only the SHA-256 of
 * the secret is kept; `prefix` is its first characters, so an admin can tell keys apart.
 */
export const apiKeys = customer.table(
  'api_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    secretHash: text('secret_hash').notNull(),
    maximumAvailable: integer('maximum_available').notNull(),
    restoreRate: integer('restore_rate').notNull(),
    createdAt: at('created_at').notNull(),
    lastUsedAt: at('last_used_at'),
    revokedAt: at('revoked_at'),
  },
  (t) => [uniqueIndex('api_keys_secret_hash_unique').on(t.secretHash)],
);
