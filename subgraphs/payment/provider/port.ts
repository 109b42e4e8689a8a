import type { Money } from '../../../platform/money';

/** The processor's answer to an authorization: the amount is held on the card, or it is not. */
export type AuthorizationResult =
  | {
      kind: 'authorized';
      /** The processor's id of the held amount; capture, void and refund name it. */
      reference: string;
      /** Card brand as the processor names it, such as `visa`. */
      brand: string;
      last4: string;
    }
  | {
      kind: 'declined';
      /** The processor's reason, such as `card_declined` or `insufficient_funds`. */
      code: string;
    };

/** A capture, void or refund the processor carried out. */
export interface ProviderReceipt {
  /** The processor's id of the charge it acted on. */
  reference: string;
}

/**
 * Port: a card processor. Every call carries an idempotency key: the same key returns
 * the same answer and moves money at most once, so a call repeated after a crash or a
 * timeout is harmless. Transient failures (timeouts, the processor unavailable) throw
 * `TransientProviderError` and may be retried with the same key; a request the
 * processor refuses for good (capturing a voided charge) throws `ProviderRefusedError`.
 * Adapters: `simulated.ts` (embedded default; documented test tokens).
 */
export interface PaymentProvider {
  /** Holds `amount` on the card behind `token`. A decline is an answer, not an error. */
  authorize(amount: Money, token: string, idempotencyKey: string): Promise<AuthorizationResult>;
  /** Charges `amount` (at most what was authorized) of the held authorization. */
  capture(reference: string, amount: Money, idempotencyKey: string): Promise<ProviderReceipt>;
  /** Releases an authorization that was not captured. */
  void(reference: string, idempotencyKey: string): Promise<ProviderReceipt>;
  /** Returns `amount` (at most what was captured and not yet refunded) to the card. */
  refund(reference: string, amount: Money, idempotencyKey: string): Promise<ProviderReceipt>;
}

/** The processor could not answer now; the same call with the same key may succeed later. */
export class TransientProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientProviderError';
  }
}

/** The processor refused the request for good; repeating it changes nothing. */
export class ProviderRefusedError extends Error {
  constructor(
    /** The processor's reason, such as `charge_already_captured`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderRefusedError';
  }
}

/** The idempotency keys of an order's provider calls: one per operation, the same on every retry. */
export const idempotencyKeys = {
  authorize: (orderId: string) => `authorize:${orderId}`,
  capture: (orderId: string) => `capture:${orderId}`,
  void: (orderId: string) => `void:${orderId}`,
  refund: (orderId: string) => `refund:${orderId}`,
};
