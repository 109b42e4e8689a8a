import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { asc, eq, sql, type SQL } from 'drizzle-orm';
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
    return this.answerOnce(idempotencyKey, ['authorize', amount, token], (attempt) => this.authorization(amount, token, idempotencyKey, attempt));
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
      return moved({ operation: 'capture', outcome: 'approved', reference, amount, idempotencyKey });
    });
  }

  void(reference: string, idempotencyKey: string): Promise<ProviderReceipt> {
    return this.once(idempotencyKey, ['void', reference], async (tx) => {
      const charge = await chargeForUpdate(tx, reference);
      if (!charge) return refused('no_such_charge', `no charge ${reference}`);
      if (charge.voided) return refused('charge_voided', `charge ${reference} was already voided`);
      if (charge.captured > 0) return refused('charge_already_captured', `charge ${reference} was captured; refund it instead`);
      await tx.update(charges).set({ voided: true }).where(eq(charges.reference, reference));
      return moved({ operation: 'void', outcome: 'approved', reference, amount: null, idempotencyKey });
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
      return moved({ operation: 'refund', outcome: 'approved', reference, amount, idempotencyKey });
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
   * What an authorization's `attempt`th call with its key answers, decided by the test token
   * alone, with the charge and ledger entry that answer makes: an authorization reads nothing
   * stored but its key's row.
   */
  private authorization(amount: Money, token: string, idempotencyKey: string, attempt: number): Outcome<AuthorizationResult> {
    const declined = (code: string): Outcome<AuthorizationResult> => ({
      answer: { kind: 'ok', value: { kind: 'declined', code } },
      entry: { operation: 'authorize', outcome: 'declined', reference: null, amount: null, idempotencyKey, declineCode: code },
    });
    if (!isChargeable(amount)) return declined('invalid_amount');
    const card = Object.hasOwn(SIMULATED_TEST_TOKENS, token) ? SIMULATED_TEST_TOKENS[token as keyof typeof SIMULATED_TEST_TOKENS] : undefined;
    if (!card) return declined(INVALID_TOKEN);
    if ('code' in card) return declined(card.code);
    if (token === 'tok_processingError' && attempt <= this.transientFailures) {
      return { answer: { kind: 'transient', message: `simulated processing error (attempt ${attempt} of key ${idempotencyKey})` } };
    }
    const reference = `ch_sim_${randomBytes(12).toString('hex')}`;
    return {
      answer: { kind: 'ok', value: { kind: 'authorized', reference, brand: card.brand, last4: card.last4 } },
      charge: { reference, currency: amount.currency, authorized: amount.amount },
      entry: { operation: 'authorize', outcome: 'approved', reference, amount, idempotencyKey },
    };
  }

  /**
   * Answers a request that reads nothing stored but its key's row (an authorization) once per
   * idempotency key, without a transaction: one statement claims the key and writes the answer
   * with the charge and ledger entry it makes, or writes nothing. A first call inserts the key's
   * row; a call after a transient failure moves the row on from the attempt it read
   * (compare-and-set). A call that loses its claim to a concurrent call with the same key reads
   * the key again and answers as that call did (or, after a transient failure, tries again).
   */
  private async answerOnce<T>(idempotencyKey: string, request: unknown[], decide: (attempt: number) => Outcome<T>): Promise<T> {
    const fingerprint = fingerprintOf(request);
    await this.delay();
    let known: typeof requests.$inferSelect | undefined;
    for (let round = 1; round <= MAX_CLAIMS; round++) {
      if (known && known.fingerprint !== fingerprint) return unwrap(reused(idempotencyKey));
      if (known?.answer) return unwrap(known.answer as Answer<T>);
      const outcome = decide((known?.attempts ?? 0) + 1);
      const claim = known ? nextAttempt(idempotencyKey, known.attempts, outcome.answer) : firstAttempt(idempotencyKey, fingerprint, outcome.answer);
      const [written] = await this.database.rows<{ answered: number }>(answerStatement(claim, outcome));
      if (written && written.answered > 0) return unwrap(outcome.answer);
      // simulated-processor-request: the key's row as the concurrent call that claimed it left it.
      [known] = await this.database.db.select().from(requests).where(eq(requests.idempotencyKey, idempotencyKey));
    }
    throw new TransientProviderError(`idempotency key ${idempotencyKey} kept changing while it was answered`);
  }

  /**
   * Answers a request that acts on a stored charge (capture, void, refund) once per idempotency
   * key, in one transaction that holds the key's row: a concurrent call with the same key waits,
   * then finds the answer. A transient failure counts the attempt and keeps no answer.
   */
  private async once<T>(idempotencyKey: string, request: unknown[], perform: (tx: Db, attempt: number) => Promise<Outcome<T>>): Promise<T> {
    const fingerprint = fingerprintOf(request);
    await this.delay();
    const answer = await this.database.db.transaction(async (tx): Promise<Answer<T>> => {
      // simulated-processor-claim: the key's row, inserted or found, and locked until this call has answered.
      const [known] = await tx
        .insert(requests)
        .values({ idempotencyKey, fingerprint })
        .onConflictDoUpdate({ target: requests.idempotencyKey, set: { fingerprint: sql`${requests.fingerprint}` } })
        .returning();
      if (!known) throw new Error(`idempotency key ${idempotencyKey} was neither written nor found`);
      if (known.fingerprint !== fingerprint) return reused(idempotencyKey);
      if (known.answer) return known.answer as Answer<T>;
      const outcome = await perform(tx, known.attempts + 1);
      await tx.execute(answerStatement(heldAttempt(idempotencyKey, known.attempts + 1, outcome.answer), outcome));
      return outcome.answer;
    });
    return unwrap(answer);
  }

  private async delay(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
  }
}

/** Opens the processor's storage (migrations applied) on the payment database or the embedded instance. */
export async function openSimulatedProcessorDatabase(options: Omit<OpenDatabaseOptions, 'schema' | 'migrationsFolder'>): Promise<Database> {
  return openDatabase({ ...options, schema: SIMULATED_PROCESSOR_SCHEMA, migrationsFolder: SIMULATED_PROCESSOR_MIGRATIONS });
}

/**
 * What answering a request writes: the answer kept under its key, and with it the charge the
 * answer authorized and the ledger entry of what it did (none for a transient failure or a refusal).
 */
interface Outcome<T> {
  answer: Answer<T>;
  charge?: { reference: string; currency: string; authorized: number };
  entry?: Omit<LedgerEntry, 'at'>;
}

/** Claims a call may lose to concurrent calls with the same key before it gives up (transiently). */
const MAX_CLAIMS = 20;

const refused = (code: string, message: string): Outcome<never> => ({ answer: { kind: 'refused', code, message } });
const moved = (entry: Omit<LedgerEntry, 'at'>): Outcome<ProviderReceipt> => ({ answer: { kind: 'ok', value: { reference: entry.reference! } }, entry });
const reused = (idempotencyKey: string): Answer<never> => ({
  kind: 'refused',
  code: 'idempotency_key_reused',
  message: `idempotency key ${idempotencyKey} was used for a different request`,
});

/** The fingerprint tells a replay from a different request; hashed so no token is kept in the clear. */
function fingerprintOf(request: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}

/** The answer as the caller hears it: a value, a refusal for good, or a failure worth retrying. */
function unwrap<T>(answer: Answer<T>): T {
  switch (answer.kind) {
    case 'ok':
      return answer.value;
    case 'refused':
      throw new ProviderRefusedError(answer.code, answer.message);
    case 'transient':
      throw new TransientProviderError(answer.message);
  }
}

/** The columns a call's answer sets on its key's row: the attempt always, the answer unless it failed transiently. */
function answered(attempt: number, answer: Answer<unknown>): SQL {
  if (answer.kind === 'transient') return sql`attempts = ${attempt}`;
  return sql`attempts = ${attempt}, answer = ${JSON.stringify(answer)}::jsonb, answered_at = now()`;
}

/** The first call with a key inserts its row, answered; nothing when the key is known. */
function firstAttempt(idempotencyKey: string, fingerprint: string, answer: Answer<unknown>): SQL {
  const kept = answer.kind === 'transient' ? sql`null::jsonb, null` : sql`${JSON.stringify(answer)}::jsonb, now()`;
  return sql`insert into ${requests} (idempotency_key, fingerprint, attempts, answer, answered_at)
    values (${idempotencyKey}, ${fingerprint}, 1, ${kept})
    on conflict (idempotency_key) do nothing`;
}

/** A later call with a key moves its row on from the attempt it read, unless another call did first. */
function nextAttempt(idempotencyKey: string, previous: number, answer: Answer<unknown>): SQL {
  return sql`update ${requests} set ${answered(previous + 1, answer)}
    where idempotency_key = ${idempotencyKey} and attempts = ${previous} and answer is null`;
}

/** A call that holds its key's row (locked in its transaction) answers it. */
function heldAttempt(idempotencyKey: string, attempt: number, answer: Answer<unknown>): SQL {
  return sql`update ${requests} set ${answered(attempt, answer)} where idempotency_key = ${idempotencyKey}`;
}

/**
 * One statement that answers a request: `claim` writes the key's row, and only when it did are
 * the charge and the ledger entry of the answer written with it. Returns how many rows it claimed.
 */
function answerStatement(claim: SQL, outcome: Outcome<unknown>): SQL {
  const parts = [sql`claimed as (${claim} returning idempotency_key)`];
  const { charge, entry } = outcome;
  if (charge) {
    parts.push(sql`charge as (
      insert into ${charges} (reference, currency, authorized)
      select ${charge.reference}::text, ${charge.currency}::char(3), ${charge.authorized}::int from claimed)`);
  }
  if (entry) {
    parts.push(sql`entry as (
      insert into ${ledger} (operation, outcome, reference, amount, currency, idempotency_key, decline_code)
      select ${entry.operation}::text, ${entry.outcome}::text, ${entry.reference}::text, ${entry.amount?.amount ?? null}::int,
        ${entry.amount?.currency ?? null}::char(3), ${entry.idempotencyKey}::text, ${entry.declineCode ?? null}::text from claimed)`);
  }
  return sql`-- name: simulated-processor-answer
    with ${sql.join(parts, sql`, `)}
    select count(*)::int as answered from claimed`;
}

async function chargeForUpdate(tx: Db, reference: string) {
  // simulated-processor-charge: the charge, locked so a capture and a void of it take turns.
  const [charge] = await tx.select().from(charges).where(eq(charges.reference, reference)).for('update');
  return charge;
}

function isChargeable(amount: Money): boolean {
  return Number.isSafeInteger(amount.amount) && amount.amount >= 0 && /^[A-Z]{3}$/.test(amount.currency);
}
