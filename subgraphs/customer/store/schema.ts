import { sql } from 'drizzle-orm';
import { jsonb, pgSchema, text, uniqueIndex } from 'drizzle-orm/pg-core';
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
