import { createHash, randomBytes } from 'node:crypto';
import type { Money } from '../../../platform/money';
import {
  ProviderRefusedError,
  TransientProviderError,
  type AuthorizationResult,
  type PaymentProvider,
  type ProviderReceipt,
} from './port';

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

interface Charge {
  authorized: Money;
  captured: number;
  refunded: number;
  voided: boolean;
}

interface KnownRequest {
  fingerprint: string;
  answer: Promise<unknown>;
}

/**
 * A card processor in memory (the embedded default): it authorizes, declines and fails
 * by test token (see `SIMULATED_TEST_TOKENS`), keeps a ledger of what it did, and
 * honours idempotency keys as a real processor does: a key seen before returns the
 * answer it got the first time (even while that first call is still running) and
 * never moves money twice; reusing a key for a different request is refused.
 * Transient failures are not remembered, so a retry with the same key tries again.
 */
export class SimulatedCardProcessor implements PaymentProvider {
  private readonly requests = new Map<string, KnownRequest>();
  private readonly attempts = new Map<string, number>();
  private readonly charges = new Map<string, Charge>();
  private readonly entries: LedgerEntry[] = [];
  private readonly transientFailures: number;
  private readonly latencyMs: number;

  constructor(options: SimulatedCardProcessorOptions = {}) {
    this.transientFailures = options.transientFailures ?? 2;
    this.latencyMs = options.latencyMs ?? 0;
  }

  authorize(amount: Money, token: string, idempotencyKey: string): Promise<AuthorizationResult> {
    return this.once(idempotencyKey, ['authorize', amount, token], (attempt): AuthorizationResult => {
      if (!isChargeable(amount)) return this.decline(idempotencyKey, 'invalid_amount');
      const card = Object.hasOwn(SIMULATED_TEST_TOKENS, token) ? SIMULATED_TEST_TOKENS[token as keyof typeof SIMULATED_TEST_TOKENS] : undefined;
      if (!card) return this.decline(idempotencyKey, INVALID_TOKEN);
      if ('code' in card) return this.decline(idempotencyKey, card.code);
      if (token === 'tok_processingError' && attempt <= this.transientFailures) {
        throw new TransientProviderError(`simulated processing error (attempt ${attempt} of key ${idempotencyKey})`);
      }
      const reference = `ch_sim_${randomBytes(12).toString('hex')}`;
      this.charges.set(reference, { authorized: { ...amount }, captured: 0, refunded: 0, voided: false });
      this.record({ operation: 'authorize', outcome: 'approved', reference, amount, idempotencyKey });
      return { kind: 'authorized', reference, brand: card.brand, last4: card.last4 };
    });
  }

  capture(reference: string, amount: Money, idempotencyKey: string): Promise<ProviderReceipt> {
    return this.once(idempotencyKey, ['capture', reference, amount], () => {
      const charge = this.charge(reference);
      if (charge.voided) throw refused('charge_voided', `charge ${reference} was voided`);
      if (charge.captured > 0) throw refused('charge_already_captured', `charge ${reference} was already captured`);
      if (!isChargeable(amount) || amount.currency !== charge.authorized.currency || amount.amount > charge.authorized.amount) {
        throw refused('amount_too_large', `capture of charge ${reference} exceeds what was authorized`);
      }
      charge.captured = amount.amount;
      this.record({ operation: 'capture', outcome: 'approved', reference, amount, idempotencyKey });
      return { reference };
    });
  }

  void(reference: string, idempotencyKey: string): Promise<ProviderReceipt> {
    return this.once(idempotencyKey, ['void', reference], () => {
      const charge = this.charge(reference);
      if (charge.voided) throw refused('charge_voided', `charge ${reference} was already voided`);
      if (charge.captured > 0) throw refused('charge_already_captured', `charge ${reference} was captured; refund it instead`);
      charge.voided = true;
      this.record({ operation: 'void', outcome: 'approved', reference, amount: null, idempotencyKey });
      return { reference };
    });
  }

  refund(reference: string, amount: Money, idempotencyKey: string): Promise<ProviderReceipt> {
    return this.once(idempotencyKey, ['refund', reference, amount], () => {
      const charge = this.charge(reference);
      if (charge.captured === 0) throw refused('charge_not_captured', `charge ${reference} was not captured`);
      if (!isChargeable(amount) || amount.currency !== charge.authorized.currency || charge.refunded + amount.amount > charge.captured) {
        throw refused('amount_too_large', `refund of charge ${reference} exceeds what was captured`);
      }
      charge.refunded += amount.amount;
      this.record({ operation: 'refund', outcome: 'approved', reference, amount, idempotencyKey });
      return { reference };
    });
  }

  /** Everything the processor did, oldest first. */
  ledger(): LedgerEntry[] {
    return this.entries.map((entry) => ({ ...entry }));
  }

  /** Calls that reached the processor with this key, replays excluded (retries of transient failures included). */
  attemptsOf(idempotencyKey: string): number {
    return this.attempts.get(idempotencyKey) ?? 0;
  }

  /**
   * Answers a request once per idempotency key. The answer is remembered before the call
   * runs, so concurrent calls with one key share it; a transient failure is forgotten.
   */
  private once<T>(idempotencyKey: string, request: unknown[], perform: (attempt: number) => T): Promise<T> {
    // The fingerprint tells a replay from a different request; hashed so no token is kept in the clear.
    const fingerprint = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    const known = this.requests.get(idempotencyKey);
    if (known) {
      if (known.fingerprint !== fingerprint) {
        return Promise.reject(refused('idempotency_key_reused', `idempotency key ${idempotencyKey} was used for a different request`));
      }
      return known.answer as Promise<T>;
    }
    const attempt = (this.attempts.get(idempotencyKey) ?? 0) + 1;
    this.attempts.set(idempotencyKey, attempt);
    const answer = this.latency().then(() => perform(attempt));
    this.requests.set(idempotencyKey, { fingerprint, answer });
    answer.catch((error: unknown) => {
      if (error instanceof TransientProviderError && this.requests.get(idempotencyKey)?.answer === answer) {
        this.requests.delete(idempotencyKey);
      }
    });
    return answer;
  }

  private latency(): Promise<void> {
    return this.latencyMs > 0 ? new Promise((resolve) => setTimeout(resolve, this.latencyMs)) : Promise.resolve();
  }

  private decline(idempotencyKey: string, code: string): AuthorizationResult {
    this.record({ operation: 'authorize', outcome: 'declined', reference: null, amount: null, idempotencyKey, declineCode: code });
    return { kind: 'declined', code };
  }

  private charge(reference: string): Charge {
    const charge = this.charges.get(reference);
    if (!charge) throw refused('no_such_charge', `no charge ${reference}`);
    return charge;
  }

  private record(entry: Omit<LedgerEntry, 'at'>): void {
    this.entries.push({ ...entry, ...(entry.amount ? { amount: { ...entry.amount } } : {}), at: new Date() });
  }
}

function isChargeable(amount: Money): boolean {
  return Number.isSafeInteger(amount.amount) && amount.amount >= 0 && /^[A-Z]{3}$/.test(amount.currency);
}

function refused(code: string, message: string): ProviderRefusedError {
  return new ProviderRefusedError(code, message);
}
