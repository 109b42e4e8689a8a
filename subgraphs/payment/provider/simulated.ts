import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { asc, eq, sql } from 'drizzle-orm';
import { openDatabase, type Database, type Db, type OpenDatabaseOptions } from '../../../platform/db';
import type { Money } from '../../../platform/money';
import {
  ProviderRefusedError,
  TransientProviderError,
  type AuthorizationResult,
  type PaymentProvider,
  type ProviderReceipt,
} from './port';
import { charges, ledger, requests } from './simulated-ledger/schema';

/**
 * Test tokens of the simulated card processor: what a checkout pays with in the embedded
 * shop and in tests. A client sends one as the order's payment token.
 *
 * | token                   | what happens                                                                |
 * |-------------------------|-----------------------------------------------------------------------------|
 * | `tok_visa`              | authorizes; card visa, last 4 `4242`                                         |
 * | `tok_mastercard`        | authorizes; card mastercard, last 4 `4444`                                   |
 * | `tok_chargeDeclined`    | declines with `card_declined`                                                |
 * | `tok_insufficientFunds` | declines with `insufficient_funds`                                           |
 * | `tok_processingError`   | the first 2 attempts per idempotency key fail transiently (a processing error the shop retries), the 3rd authorizes; card visa, last 4 `0119` |
 * | anything else           | declines with `invalid_token`                                                |
 */
export const SIMULATED_TEST_TOKENS = {
  tok_visa: { outcome: 'authorizes', brand: 'visa', last4: '4242' },
  tok_mastercard: { outcome: 'authorizes', brand: 'mastercard', last4: '4444' },
  tok_chargeDeclined: { outcome: 'declines', code: 'card_declined' },
  tok_insufficientFunds: { outcome: 'declines', code: 'insufficient_funds' },
  tok_processingError: { outcome: 'fails transiently, then authorizes', brand: 'visa', last4: '0119' },
} as const;

/** The decline code of a token the processor does not know. */
export const INVALID_TOKEN = 'invalid_token';

/** Something the simulated processor did, in the order it did it; replays of an idempotency key add nothing. */
export interface LedgerEntry {
  operation: 'authorize' | 'capture' | 'void' | 'refund';
  /** `approved`: money was held, charged, released or returned; `declined`: an authorization was refused. */
  outcome: 'approved' | 'declined';
  /** The charge acted on; null for a declined authorization. */
  reference: string | null;
  /** Null for a void and a declined authorization. */
  amount: Money | null;
  idempotencyKey: string;
  declineCode?: string;
  at: Date;
}

export interface SimulatedCardProcessorOptions {
  /** Transient failures of `tok_processingError` per idempotency key before it authorizes; default 2. */
  transientFailures?: number;
  /** How long each call takes, in ms, so concurrent calls overlap as with a real processor; default 0. */
  latencyMs?: number;
}

/** Where the processor keeps its ledger: its own schema, beside payment's. */
export const SIMULATED_PROCESSOR_SCHEMA = 'card_processor';
export const SIMULATED_PROCESSOR_MIGRATIONS = path.join(__dirname, 'simulated-ledger', 'migrations');

/** What the processor answered a request, as it keeps it under the request's idempotency key. */
type Answer<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'refused'; code: string; message: string }
  | { kind: 'transient'; message: string };

/**
 * A card processor the shop runs itself (the embedded default and tests): it authorizes,
 * declines and fails by test token (see `SIMULATED_TEST_TOKENS`) and keeps its ledger in
 * storage of its own (schema `card_processor`), so, like an external processor, it
 * remembers every charge across restarts of the payment subgraph. It honours idempotency
 * keys as a real processor does: a key seen before returns the answer it got the first
 * time (a concurrent call with the same key waits for it) and never moves money twice;
 * reusing a key for a different request is refused. Transient failures are not
 * remembered, so a retry with the same key tries again.
 */
export class SimulatedCardProcessor implements PaymentProvider {
  private readonly transientFailures: number;
  private readonly latencyMs: number;

  constructor(
    private readonly database: Database,
    options: SimulatedCardProcessorOptions = {},
  ) {
    this.transientFailures = options.transientFailures ?? 2;
    this.latencyMs = options.latencyMs ?? 0;
  }

  /** The same processor (the same ledger) answering with other options: latency, transient failures. */
  withOptions(options: SimulatedCardProcessorOptions): SimulatedCardProcessor {
    return new SimulatedCardProcessor(this.database, options);
  }

  authorize(amount: Money, token: string, idempotencyKey: string): Promise<AuthorizationResult> {
    return this.once(idempotencyKey, ['authorize', amount, token], async (tx, attempt): Promise<Answer<AuthorizationResult>> => {
      if (!isChargeable(amount)) return this.decline(tx, idempotencyKey, 'invalid_amount');
      const card = Object.hasOwn(SIMULATED_TEST_TOKENS, token) ? SIMULATED_TEST_TOKENS[token as keyof typeof SIMULATED_TEST_TOKENS] : undefined;
      if (!card) return this.decline(tx, idempotencyKey, INVALID_TOKEN);
      if ('code' in card) return this.decline(tx, idempotencyKey, card.code);
      if (token === 'tok_processingError' && attempt <= this.transientFailures) {
        return { kind: 'transient', message: `simulated processing error (attempt ${attempt} of key ${idempotencyKey})` };
      }
      const reference = `ch_sim_${randomBytes(12).toString('hex')}`;
      await tx.insert(charges).values({ reference, currency: amount.currency, authorized: amount.amount });
      await record(tx, { operation: 'authorize', outcome: 'approved', reference, amount, idempotencyKey });
      return ok({ kind: 'authorized', reference, brand: card.brand, last4: card.last4 });
    });
  }

  capture(reference: string, amount: Money, idempotencyKey: string): Promise<ProviderReceipt> {
    return this.once(idempotencyKey, ['capture', reference, amount], async (tx) => {
      const charge = await chargeForUpdate(tx, reference);
      if (!charge) return refused('no_such_charge', `no charge ${reference}`);
      if (charge.voided) return refused('charge_voided', `charge ${reference} was voided`);
      if (charge.captured > 0) return refused('charge_already_captured', `charge ${reference} was already captured`);
      if (!isChargeable(amount) || amount.currency !== charge.currency || amount.amount > charge.authorized) {
        return refused('amount_too_large', `capture of charge ${reference} exceeds what was authorized`);
      }
      await tx.update(charges).set({ captured: amount.amount }).where(eq(charges.reference, reference));
      await record(tx, { operation: 'capture', outcome: 'approved', reference, amount, idempotencyKey });
      return ok({ reference });
    });
  }

  void(reference: string, idempotencyKey: string): Promise<ProviderReceipt> {
    return this.once(idempotencyKey, ['void', reference], async (tx) => {
      const charge = await chargeForUpdate(tx, reference);
      if (!charge) return refused('no_such_charge', `no charge ${reference}`);
      if (charge.voided) return refused('charge_voided', `charge ${reference} was already voided`);
      if (charge.captured > 0) return refused('charge_already_captured', `charge ${reference} was captured; refund it instead`);
      await tx.update(charges).set({ voided: true }).where(eq(charges.reference, reference));
      await record(tx, { operation: 'void', outcome: 'approved', reference, amount: null, idempotencyKey });
      return ok({ reference });
    });
  }

  refund(reference: string, amount: Money, idempotencyKey: string): Promise<ProviderReceipt> {
    return this.once(idempotencyKey, ['refund', reference, amount], async (tx) => {
      const charge = await chargeForUpdate(tx, reference);
      if (!charge) return refused('no_such_charge', `no charge ${reference}`);
      if (charge.captured === 0) return refused('charge_not_captured', `charge ${reference} was not captured`);
      if (!isChargeable(amount) || amount.currency !== charge.currency || charge.refunded + amount.amount > charge.captured) {
        return refused('amount_too_large', `refund of charge ${reference} exceeds what was captured`);
      }
      await tx
        .update(charges)
        .set({ refunded: sql`${charges.refunded} + ${amount.amount}` })
        .where(eq(charges.reference, reference));
      await record(tx, { operation: 'refund', outcome: 'approved', reference, amount, idempotencyKey });
      return ok({ reference });
    });
  }

  /** Everything the processor did, oldest first. */
  async ledger(): Promise<LedgerEntry[]> {
    // simulated-processor-ledger: the whole ledger in the order it was written.
    const rows = await this.database.db.select().from(ledger).orderBy(asc(ledger.seq));
    return rows.map((row) => ({
      operation: row.operation,
      outcome: row.outcome,
      reference: row.reference,
      amount: row.amount === null || row.currency === null ? null : { amount: row.amount, currency: row.currency },
      idempotencyKey: row.idempotencyKey,
      ...(row.declineCode ? { declineCode: row.declineCode } : {}),
      at: row.at,
    }));
  }

  /** Calls that reached the processor with this key, replays excluded (retries of transient failures included). */
  async attemptsOf(idempotencyKey: string): Promise<number> {
    const [row] = await this.database.db.select({ attempts: requests.attempts }).from(requests).where(eq(requests.idempotencyKey, idempotencyKey));
    return row?.attempts ?? 0;
  }

  /**
   * Answers a request once per idempotency key, in one transaction that holds the key's
   * row: a concurrent call with the same key waits, then finds the answer. A transient
   * failure counts the attempt and keeps no answer.
   */
  private async once<T>(idempotencyKey: string, request: unknown[], perform: (tx: Db, attempt: number) => Promise<Answer<T>>): Promise<T> {
    // The fingerprint tells a replay from a different request; hashed so no token is kept in the clear.
    const fingerprint = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    const answer = await this.database.db.transaction(async (tx): Promise<Answer<T>> => {
      await tx.insert(requests).values({ idempotencyKey, fingerprint }).onConflictDoNothing({ target: requests.idempotencyKey });
      // simulated-processor-request: the key's row, locked until this call has answered.
      const [known] = await tx.select().from(requests).where(eq(requests.idempotencyKey, idempotencyKey)).for('update');
      if (!known) throw new Error(`idempotency key ${idempotencyKey} was neither written nor found`);
      if (known.fingerprint !== fingerprint) {
        return { kind: 'refused', code: 'idempotency_key_reused', message: `idempotency key ${idempotencyKey} was used for a different request` };
      }
      if (known.answer) return known.answer as Answer<T>;
      const attempt = known.attempts + 1;
      const result = await perform(tx, attempt);
      await tx
        .update(requests)
        .set(result.kind === 'transient' ? { attempts: attempt } : { attempts: attempt, answer: result, answeredAt: sql`now()` })
        .where(eq(requests.idempotencyKey, idempotencyKey));
      return result;
    });
    switch (answer.kind) {
      case 'ok':
        return answer.value;
      case 'refused':
        throw new ProviderRefusedError(answer.code, answer.message);
      case 'transient':
        throw new TransientProviderError(answer.message);
    }
  }

  private async decline(tx: Db, idempotencyKey: string, code: string): Promise<Answer<AuthorizationResult>> {
    await record(tx, { operation: 'authorize', outcome: 'declined', reference: null, amount: null, idempotencyKey, declineCode: code });
    return ok({ kind: 'declined', code });
  }
}

/** Opens the processor's storage (migrations applied) on the payment database or the embedded instance. */
export async function openSimulatedProcessorDatabase(options: Omit<OpenDatabaseOptions, 'schema' | 'migrationsFolder'>): Promise<Database> {
  return openDatabase({ ...options, schema: SIMULATED_PROCESSOR_SCHEMA, migrationsFolder: SIMULATED_PROCESSOR_MIGRATIONS });
}

const ok = <T>(value: T): Answer<T> => ({ kind: 'ok', value });
const refused = (code: string, message: string): Answer<never> => ({ kind: 'refused', code, message });

async function chargeForUpdate(tx: Db, reference: string) {
  // simulated-processor-charge: the charge, locked so a capture and a void of it take turns.
  const [charge] = await tx.select().from(charges).where(eq(charges.reference, reference)).for('update');
  return charge;
}

async function record(tx: Db, entry: Omit<LedgerEntry, 'at'>): Promise<void> {
  await tx.insert(ledger).values({
    operation: entry.operation,
    outcome: entry.outcome,
    reference: entry.reference,
    amount: entry.amount?.amount ?? null,
    currency: entry.amount?.currency ?? null,
    idempotencyKey: entry.idempotencyKey,
    declineCode: entry.declineCode ?? null,
  });
}

function isChargeable(amount: Money): boolean {
  return Number.isSafeInteger(amount.amount) && amount.amount >= 0 && /^[A-Z]{3}$/.test(amount.currency);
}
