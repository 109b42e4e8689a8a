import path from 'node:path';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/db';
import type { CustomerRecord, CustomerStore, StoredCustomer } from './port';
import { customers, type CustomerDocument } from './schema';

export const CUSTOMER_SCHEMA = 'customer';
export const CUSTOMER_MIGRATIONS = path.join(__dirname, 'migrations');

/** Rows per INSERT when adding many customers. */
const INSERT_CHUNK = 500;

type Row = typeof customers.$inferSelect;

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
