import path from 'node:path';
import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/db';
import type { ApiKeyRecord, CustomerRecord, CustomerStore, SessionRecord, StoredCustomer } from './port';
import { apiKeys, customers, retiredRefreshTokens, sessions, type CustomerDocument } from './schema';

export const CUSTOMER_SCHEMA = 'customer';
export const CUSTOMER_MIGRATIONS = path.join(__dirname, 'migrations');

/** Rows per INSERT when adding many customers. */
const INSERT_CHUNK = 500;

type Row = typeof customers.$inferSelect;
type SessionRow = typeof sessions.$inferSelect;

function toSession({ refreshHash: _hash, ...row }: SessionRow): SessionRecord {
  return row;
}

type ApiKeyRow = typeof apiKeys.$inferSelect;

function toApiKey({ secretHash: _hash, ...row }: ApiKeyRow): ApiKeyRecord {
  return row;
}

/** Live: not ended, refresh token not expired at `now`. */
const live = (now: Date) => and(isNull(sessions.endedAt), gt(sessions.refreshExpiresAt, now));

function toRecord({ id, email, doc }: Row): CustomerRecord {
  return {
    id,
    email,
    name: doc.name,
    scopes: doc.scopes,
    addresses: doc.addresses ?? [],
    createdAt: new Date(doc.createdAt),
  };
}

function toRow(customer: StoredCustomer): Row {
  const doc: CustomerDocument = {
    name: customer.name,
    passwordHash: customer.passwordHash,
    scopes: [...customer.scopes],
    addresses: [...customer.addresses],
    createdAt: customer.createdAt.toISOString(),
  };
  return { id: customer.id, email: customer.email, doc };
}

/** Customers as JSONB documents in PostgreSQL, the same code on PGlite and on a server. */
export function postgresCustomerStore(database: Database): CustomerStore {
  const { db } = database;
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,

    async findByIds(ids) {
      if (ids.length === 0) return [];
      const rows = await db.select().from(customers).where(inArray(customers.id, [...ids]));
      return rows.map(toRecord);
    },

    async findByEmail(email) {
      // name: customer-by-email — the same expression as the unique index, so the index serves it.
      const [row] = await db
        .select()
        .from(customers)
        .where(sql`lower(${customers.email}) = lower(${email})`)
        .limit(1);
      return row ? { ...toRecord(row), passwordHash: row.doc.passwordHash } : null;
    },

    async insert(customer) {
      // Without a conflict target, DO NOTHING covers both the primary key and the lower(email) index.
      const [row] = await db.insert(customers).values(toRow(customer)).onConflictDoNothing().returning();
      return row ? toRecord(row) : { kind: 'duplicate' };
    },

    async addAddress(customerId, address, limit) {
      // name: append-customer-address — one UPDATE: the length check and the append are atomic.
      const [row] = await db
        .update(customers)
        .set({
          doc: sql`jsonb_set(${customers.doc}, '{addresses}', coalesce(${customers.doc} -> 'addresses', '[]'::jsonb) || jsonb_build_array(${JSON.stringify(address)}::jsonb))`,
        })
        .where(
          and(
            eq(customers.id, customerId),
            sql`jsonb_array_length(coalesce(${customers.doc} -> 'addresses', '[]'::jsonb)) < ${limit}`,
          ),
        )
        .returning({ id: customers.id });
      if (row) return address;
      const [exists] = await db.select({ id: customers.id }).from(customers).where(eq(customers.id, customerId));
      return exists ? { kind: 'limit-reached', limit } : { kind: 'not-found' };
    },

    async isEmpty() {
      const rows = await db.select({ id: customers.id }).from(customers).limit(1);
      return rows.length === 0;
    },

    async findCredentials(customerId) {
      const [row] = await db.select().from(customers).where(eq(customers.id, customerId));
      return row ? { ...toRecord(row), passwordHash: row.doc.passwordHash } : null;
    },

    async changePassword(customerId, passwordHash, now, keepSessionId) {
      return db.transaction(async (tx) => {
        // name: replace-password-hash
        const [row] = await tx
          .update(customers)
          .set({ doc: sql`jsonb_set(${customers.doc}, '{passwordHash}', to_jsonb(${passwordHash}::text))` })
          .where(eq(customers.id, customerId))
          .returning({ id: customers.id });
        if (!row) return { kind: 'not-found' as const };
        const ended = await tx
          .update(sessions)
          .set({ endedAt: now })
          .where(
            and(eq(sessions.customerId, customerId), isNull(sessions.endedAt), keepSessionId ? ne(sessions.id, keepSessionId) : undefined),
          )
          .returning({ id: sessions.id });
        return { endedSessionIds: ended.map((s) => s.id) };
      });
    },

    async startSession(session) {
      const [row] = await db
        .insert(sessions)
        .values({ ...session, lastUsedAt: session.createdAt, endedAt: null })
        .returning();
      return toSession(row!);
    },

    async rotateRefreshToken(presentedHash, next, now) {
      return db.transaction(async (tx) => {
        // name: lock-session-by-refresh-token — a concurrent rotation of the same token waits
        // here, then finds the hash replaced and falls through to the retired tokens.
        const [current] = await tx.select().from(sessions).where(eq(sessions.refreshHash, presentedHash)).for('update');
        if (current) {
          if (current.endedAt || current.refreshExpiresAt <= now) return { kind: 'inactive' as const };
          await tx.insert(retiredRefreshTokens).values({ refreshHash: presentedHash, sessionId: current.id, retiredAt: now });
          const [rotated] = await tx
            .update(sessions)
            .set({ refreshHash: next.hash, refreshExpiresAt: next.expiresAt, lastUsedAt: now })
            .where(eq(sessions.id, current.id))
            .returning();
          return { kind: 'rotated' as const, session: toSession(rotated!) };
        }
        const [retired] = await tx
          .select({ sessionId: retiredRefreshTokens.sessionId })
          .from(retiredRefreshTokens)
          .where(eq(retiredRefreshTokens.refreshHash, presentedHash));
        if (!retired) return { kind: 'unknown' as const };
        // name: end-session-on-refresh-reuse
        const [ended] = await tx
          .update(sessions)
          .set({ endedAt: now })
          .where(and(eq(sessions.id, retired.sessionId), isNull(sessions.endedAt)))
          .returning();
        if (ended) return { kind: 'reused' as const, session: toSession(ended), endedNow: true };
        const [before] = await tx.select().from(sessions).where(eq(sessions.id, retired.sessionId));
        return before ? { kind: 'reused' as const, session: toSession(before), endedNow: false } : { kind: 'unknown' as const };
      });
    },

    async endSession(customerId, sessionId, now) {
      const ended = await db
        .update(sessions)
        .set({ endedAt: now })
        .where(and(eq(sessions.id, sessionId), eq(sessions.customerId, customerId), isNull(sessions.endedAt)))
        .returning({ id: sessions.id });
      return ended.length > 0;
    },

    async endCustomerSessions(customerId, now) {
      const ended = await db
        .update(sessions)
        .set({ endedAt: now })
        .where(and(eq(sessions.customerId, customerId), isNull(sessions.endedAt)))
        .returning({ id: sessions.id });
      return ended.map((s) => s.id);
    },

    async activeSessions(customerId, now) {
      const rows = await db
        .select()
        .from(sessions)
        .where(and(eq(sessions.customerId, customerId), live(now)))
        .orderBy(asc(sessions.createdAt), asc(sessions.id));
      return rows.map(toSession);
    },

    async sessionsEndedSince(since) {
      const rows = await db
        .select({ id: sessions.id, endedAt: sessions.endedAt })
        .from(sessions)
        .where(and(isNotNull(sessions.endedAt), gt(sessions.endedAt, since)));
      return rows.map((r) => ({ id: r.id, endedAt: r.endedAt! }));
    },

    async deleteStaleSessions(now, endedBefore) {
      // name: delete-stale-sessions — retired tokens go with them (ON DELETE CASCADE).
      const deleted = await db
        .delete(sessions)
        .where(or(lt(sessions.refreshExpiresAt, now), lt(sessions.endedAt, endedBefore)))
        .returning({ id: sessions.id });
      return deleted.length;
    },

    async createApiKey(key) {
      const [row] = await db.insert(apiKeys).values(key).returning();
      return toApiKey(row!);
    },

    async listApiKeys() {
      const rows = await db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt), asc(apiKeys.id));
      return rows.map(toApiKey);
    },

    activeApiKeys() {
      return db.select().from(apiKeys).where(isNull(apiKeys.revokedAt));
    },

    async revokeApiKey(id, now) {
      // name: revoke-api-key — the first revocation's time stays.
      const [row] = await db
        .update(apiKeys)
        .set({ revokedAt: sql`coalesce(${apiKeys.revokedAt}, ${now.toISOString()}::timestamptz)` })
        .where(eq(apiKeys.id, id))
        .returning();
      return row ? toApiKey(row) : null;
    },

    async recordApiKeyUse(usage) {
      if (usage.length === 0) return;
      const values = sql.join(
        usage.map(({ id, at }) => sql`(${id}, ${at.toISOString()}::timestamptz)`),
        sql`, `,
      );
      // name: record-api-key-use — every key of the batch in one UPDATE; a later time wins.
      await db.execute(sql`
        update ${apiKeys} set last_used_at = greatest(${apiKeys.lastUsedAt}, used.at)
        from (values ${values}) as used(id, at)
        where ${apiKeys.id} = used.id`);
    },

    async insertMany(list) {
      if (list.length === 0) return 0;
      return db.transaction(async (tx) => {
        let added = 0;
        for (let i = 0; i < list.length; i += INSERT_CHUNK) {
          const rows = await tx
            .insert(customers)
            .values(list.slice(i, i + INSERT_CHUNK).map(toRow))
            .onConflictDoNothing()
            .returning({ id: customers.id });
          added += rows.length;
        }
        return added;
      });
    },
  };
}
