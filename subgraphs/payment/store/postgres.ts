import path from 'node:path';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/db';
import type { NewPayment, PaymentRecord, PaymentStore, StatusConflict } from './port';
import { payments } from './schema';

export const PAYMENT_SCHEMA = 'payment';
export const PAYMENT_MIGRATIONS = path.join(__dirname, 'migrations');

/** Rows per import statement; each column travels as one array parameter, so only memory bounds it. */
const IMPORT_CHUNK = 5000;

/** Rows a raw statement returned, whichever driver ran it. */
function rowCount(result: unknown): number {
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows).length;
}

/** A new payment was last changed when it was made. */
function withTimestamps(payment: NewPayment) {
  const at = payment.createdAt ?? new Date();
  return { ...payment, createdAt: at, updatedAt: at };
}

/** Payments on PostgreSQL, the same code on PGlite and on a server. */
export function postgresPaymentStore(database: Database): PaymentStore {
  const { db } = database;
  return {
    ready: () => database.ready(),
    close: () => database.close(),
    statementCount: () => database.stats.statements,

    async paymentsByIds(ids) {
      if (ids.length === 0) return [];
      return db.select().from(payments).where(inArray(payments.id, [...ids]));
    },

    async paymentsByOrderIds(orderIds) {
      if (orderIds.length === 0) return [];
      return db.select().from(payments).where(inArray(payments.orderId, [...orderIds]));
    },

    async createPayment(payment) {
      const [row] = await db.insert(payments).values(withTimestamps(payment)).onConflictDoNothing({ target: payments.orderId }).returning();
      if (row) return { payment: row, created: true };
      const [existing] = await db.select().from(payments).where(eq(payments.orderId, payment.orderId));
      if (!existing) throw new Error(`payment for order ${payment.orderId} was neither written nor found`);
      return { payment: existing, created: false };
    },

    async updatePayment(id, expected, change): Promise<PaymentRecord | StatusConflict> {
      // update-payment-status: check and write in one statement, so a concurrent change cannot slip between them.
      const [row] = await db
        .update(payments)
        .set({
          status: change.status,
          ...(change.capturedAmount !== undefined ? { capturedAmount: change.capturedAmount } : {}),
          ...(change.refundedAmount !== undefined ? { refundedAmount: change.refundedAmount } : {}),
          ...(change.providerReference !== undefined ? { providerReference: change.providerReference } : {}),
          updatedAt: sql`now()`,
        })
        .where(and(eq(payments.id, id), eq(payments.status, expected)))
        .returning();
      if (row) return row;
      const [current] = await db.select({ status: payments.status }).from(payments).where(eq(payments.id, id));
      return { kind: 'status-conflict', current: current?.status ?? null };
    },

    async importPayments(list: readonly NewPayment[]) {
      if (list.length === 0) return 0;
      return db.transaction(async (tx) => {
        let added = 0;
        for (let i = 0; i < list.length; i += IMPORT_CHUNK) {
          const rows = list.slice(i, i + IMPORT_CHUNK).map(withTimestamps);
          const column = <T>(pick: (row: (typeof rows)[number]) => T) => sql.param(rows.map(pick));
          // One array parameter per column keeps the statement small whatever the chunk size. Times travel
          // as text: the postgres-js driver cannot serialize a timestamptz[] parameter.
          const inserted = await tx.execute(sql`
            -- name: import-payments
            insert into ${payments} (id, order_id, customer_id, status, amount, captured_amount, refunded_amount,
              currency, method_brand, method_last4, provider_reference, created_at, updated_at)
            select * from unnest(
              ${column((r) => r.id)}::text[], ${column((r) => r.orderId)}::text[], ${column((r) => r.customerId)}::text[],
              ${column((r) => r.status)}::text[], ${column((r) => r.amount)}::int[], ${column((r) => r.capturedAmount)}::int[],
              ${column((r) => r.refundedAmount)}::int[], ${column((r) => r.currency)}::text[], ${column((r) => r.methodBrand)}::text[],
              ${column((r) => r.methodLast4)}::text[], ${column((r) => r.providerReference)}::text[],
              ${column((r) => r.createdAt.toISOString())}::text[]::timestamptz[],
              ${column((r) => r.updatedAt.toISOString())}::text[]::timestamptz[])
            on conflict do nothing
            returning id`);
          added += rowCount(inserted);
        }
        return added;
      });
    },

    async hasPayments() {
      const rows = await db.select({ id: payments.id }).from(payments).limit(1);
      return rows.length > 0;
    },
  };
}
