import { notFound, ShopError } from '../../platform/errors';
import { domainEvent, type EventEnvelope, type EventType } from '../../platform/events';
import type { Logger } from '../../platform/logger';
import { money, type Money } from '../../platform/money';
import { paymentSettlementFailures } from './metrics';
import { cardFromProcessor, currencyCode, paymentIdForOrder } from './payments';
import { idempotencyKeys, ProviderRefusedError, TransientProviderError, type PaymentProvider, type ProviderReceipt } from './provider/port';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from './provider/retry';
import type {
  ClosureReason,
  NewPayment,
  OrderPaymentTransaction,
  PaymentChange,
  PaymentIntent,
  PaymentRecord,
  PaymentStatus,
  PaymentStore,
} from './store/port';

/** The consumer group payment's replicas share. */
export const PAYMENT_CONSUMER_GROUP = 'payment';

/** The events payment acts on. */
export const PAYMENT_EVENT_TYPES = [
  'OrderPlaced',
  'StockReserved',
  'OrderShipped',
  'OrderCancelled',
  'OrderRejected',
  'OrderRefunded',
] as const satisfies readonly EventType[];

/** What handling one delivery did; `duplicate` and `unchanged` changed nothing. */
export type SagaOutcome =
  | 'intent-saved'
  | 'authorized'
  | 'declined'
  | 'failed'
  | 'captured'
  | 'voided'
  | 'refunded'
  | 'settlement-failed'
  | 'closed'
  | 'unchanged'
  | 'duplicate';

/**
 * An event that arrived before the one it depends on (StockReserved before OrderPlaced,
 * OrderShipped before the authorization). Thrown so the bus delivers it again later.
 */
export class OutOfOrderEvent extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutOfOrderEvent';
  }
}

export interface PaymentSagaOptions {
  store: PaymentStore;
  provider: PaymentProvider;
  logger: Logger;
  /** Retries of transient provider failures; default 4 attempts from 100 ms. */
  retry?: RetryPolicy;
  /** Waits between retries; tests pass a fast one. */
  sleep?: (ms: number) => Promise<void>;
  /** Called after a transaction that wrote to the outbox commits: the relay's `notify`. */
  onEventsWritten?: () => void;
}

/** What one transaction of a handler did, and the events it announces. */
interface Step<O extends string> {
  outcome: O;
  events?: EventEnvelope[];
}

/** Rounds of plan → provider call → verify under the lock before a handler gives up and lets the bus redeliver. */
const MAX_ROUNDS = 3;

/** What the processor is asked to do with money it already holds. */
type Settlement = 'capture' | 'void' | 'refund';

/** How each settlement is performed, what it changes, what it announces, and what its failure is called. */
const SETTLEMENTS: Record<
  Settlement,
  {
    amount(payment: PaymentRecord): Money;
    perform(provider: PaymentProvider, reference: string, amount: Money, orderId: string): Promise<ProviderReceipt>;
    settled: PaymentStatus;
    failed: PaymentStatus;
    outcome: SagaOutcome;
    change(payment: PaymentRecord, amount: Money): Omit<PaymentChange, 'status'>;
    announce(payment: PaymentRecord, amount: Money, requestId: string | undefined): EventEnvelope;
  }
> = {
  capture: {
    amount: (payment) => money(payment.amount, payment.currency),
    perform: (provider, reference, amount, orderId) => provider.capture(reference, amount, idempotencyKeys.capture(orderId)),
    settled: 'CAPTURED',
    failed: 'CAPTURE_FAILED',
    outcome: 'captured',
    change: (_payment, amount) => ({ capturedAmount: amount.amount }),
    announce: (payment, amount, requestId) =>
      domainEvent('PaymentCaptured', payment.orderId, { orderId: payment.orderId, paymentId: payment.id, amount }, requestId),
  },
  void: {
    amount: (payment) => money(0, payment.currency),
    perform: (provider, reference, _amount, orderId) => provider.void(reference, idempotencyKeys.void(orderId)),
    settled: 'VOIDED',
    failed: 'VOID_FAILED',
    outcome: 'voided',
    change: () => ({}),
    announce: (payment, _amount, requestId) =>
      domainEvent('PaymentVoided', payment.orderId, { orderId: payment.orderId, paymentId: payment.id }, requestId),
  },
  refund: {
    amount: (payment) => money(payment.capturedAmount - payment.refundedAmount, payment.currency),
    perform: (provider, reference, amount, orderId) => provider.refund(reference, amount, idempotencyKeys.refund(orderId)),
    settled: 'REFUNDED',
    failed: 'REFUND_FAILED',
    outcome: 'refunded',
    change: (payment) => ({ refundedAmount: payment.capturedAmount }),
    announce: (payment, amount, requestId) =>
      domainEvent('PaymentRefunded', payment.orderId, { orderId: payment.orderId, paymentId: payment.id, amount }, requestId),
  },
};

/** The settlement an admin's retry repeats, by the failed status it repeats it from. */
const RETRIED_OPERATION: Partial<Record<PaymentStatus, Settlement>> = {
  CAPTURE_FAILED: 'capture',
  VOID_FAILED: 'void',
  REFUND_FAILED: 'refund',
};

/** The decision of an authorization: held, refused by the processor, or the processor kept failing. */
type AuthorizationDecision =
  | { kind: 'authorized'; reference: string; brand: string; last4: string }
  | { kind: 'declined'; code: string }
  | { kind: 'failed'; code: 'processing_error' };

/**
 * Payment's part of the checkout saga. It keeps a payment intent from OrderPlaced,
 * authorizes when stock is reserved, captures on shipment, voids on cancellation or
 * rejection, refunds on refund, and announces each result.
 *
 * Every handler follows one pattern: read the order's state without a lock and plan;
 * call the provider OUTSIDE any transaction, with an idempotency key per order and
 * operation (`authorize:<orderId>`…), so a crash after the call and before the commit
 * repeats the call harmlessly; then, in one transaction holding the order's lock, check
 * the plan still holds, record the message as processed, apply the change
 * (compare-and-set on the payment's status) and write the outgoing event. A redelivery
 * finds the message processed or the payment decided and changes nothing.
 */
export class PaymentSaga {
  private readonly store: PaymentStore;
  private readonly provider: PaymentProvider;
  private readonly logger: Logger;
  private readonly retry: RetryPolicy;

  constructor(private readonly options: PaymentSagaOptions) {
    this.store = options.store;
    this.provider = options.provider;
    this.logger = options.logger;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
  }

  /** Handles one delivery; throwing means "not handled", and the bus delivers it again. */
  async handle(event: EventEnvelope): Promise<SagaOutcome> {
    const outcome = await this.dispatch(event);
    // Ids and types only: a full envelope would put the OrderPlaced payment token in the log.
    const fields = { eventId: event.id, type: event.type, orderId: event.aggregateId, outcome };
    if (outcome === 'duplicate' || outcome === 'unchanged') this.logger.debug(fields, 'payment event handled');
    else this.logger.info(fields, 'payment event handled');
    return outcome;
  }

  private dispatch(event: EventEnvelope): Promise<SagaOutcome> {
    switch (event.type) {
      case 'OrderPlaced':
        return this.orderPlaced(event as EventEnvelope<'OrderPlaced'>);
      case 'StockReserved':
        return this.stockReserved(event as EventEnvelope<'StockReserved'>);
      case 'OrderShipped':
        return this.orderShipped(event as EventEnvelope<'OrderShipped'>);
      case 'OrderCancelled':
        return this.orderClosed(event, (event as EventEnvelope<'OrderCancelled'>).payload.orderId, 'CANCELLED');
      case 'OrderRejected':
        return this.orderClosed(event, (event as EventEnvelope<'OrderRejected'>).payload.orderId, 'REJECTED');
      case 'OrderRefunded':
        return this.orderRefunded(event as EventEnvelope<'OrderRefunded'>);
      default:
        return this.acknowledge(event, event.aggregateId, 'unchanged');
    }
  }

  /** Keeps who pays, how much and with which token until the stock is reserved. */
  private async orderPlaced(event: EventEnvelope<'OrderPlaced'>): Promise<SagaOutcome> {
    const { orderId, customerId, total, paymentToken } = event.payload;
    const amount = money(total.amount, currencyCode(total.currency));
    if (amount.amount < 0) throw new Error(`order ${orderId} has a negative total`);
    // A token of an order already closed or decided has no use left; the store does not keep it.
    const intent = { orderId, customerId, amount: amount.amount, currency: amount.currency, token: paymentToken };
    // One statement under the order's lock: nothing to decide in between.
    return (await this.store.acceptIntent(PAYMENT_CONSUMER_GROUP, event.id, intent)) ? 'intent-saved' : 'duplicate';
  }

  /** Authorizes the order's intent: PaymentAuthorized, or PaymentFailed when declined or the processor kept failing. */
  private async stockReserved(event: EventEnvelope<'StockReserved'>): Promise<SagaOutcome> {
    const { orderId } = event.payload;
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const { intent, payment, closure } = await this.store.orderPaymentState(orderId);
      // An authorization that raced a cancellation is on record; release it.
      if (payment?.status === 'AUTHORIZED' && closure) return this.voidPayment(event, payment, closure.reason);
      // Decided already, or closed before anything was authorized: nothing to do.
      if (payment || closure) return this.acknowledge(event, orderId, 'unchanged');
      if (!intent) throw new OutOfOrderEvent(`StockReserved of order ${orderId} arrived before its OrderPlaced; it will be delivered again`);
      if (!intent.token) throw new Error(`order ${orderId} has neither a payment nor a token to pay with`);

      const decision = await this.authorize(intent, intent.token);
      const decided = paymentOf(intent, decision);
      // The usual case in one statement under the order's lock: the order is still open and undecided, as it was read above.
      const events = [announcement(decided, decision, event.requestId)];
      const recorded = await this.store.recordDecision(PAYMENT_CONSUMER_GROUP, event.id, decided, events);
      if (recorded === 'recorded') {
        this.options.onEventsWritten?.();
        return decision.kind;
      }
      if (recorded === 'duplicate') return 'duplicate';
      const outcome = await this.transact(event, orderId, async (tx, markProcessed) => {
        // It has a payment or a closure since it was read: decide, under the lock, on what is there now.
        const now = await tx.state();
        if (now.payment?.status === 'AUTHORIZED' && now.closure) return { outcome: 'again' as const };
        if (now.payment) return { outcome: (await markProcessed()) ? 'unchanged' : 'duplicate' };
        if (now.closure) {
          if (decision.kind !== 'authorized') return { outcome: (await markProcessed()) ? 'unchanged' : 'duplicate' };
          // Cancelled while the processor was authorizing: record the hold first (no announcement, and the
          // message stays unprocessed), so that if the void below never happens a redelivery still finds it.
          await tx.createPayment(decided);
          return { outcome: 'again' as const };
        }
        throw new Error(`order ${orderId} is neither open nor decided nor closed`);
      });
      if (outcome !== 'again') return outcome;
    }
    throw new Error(`order ${orderId} kept changing while its stock reservation was handled; it will be delivered again`);
  }

  /** Captures the authorized amount once the order ships; a capture the processor refuses is CAPTURE_FAILED. */
  private async orderShipped(event: EventEnvelope<'OrderShipped'>): Promise<SagaOutcome> {
    const { orderId } = event.payload;
    const { payment } = await this.store.orderPaymentState(orderId);
    if (!payment) throw new OutOfOrderEvent(`OrderShipped of order ${orderId} arrived before its payment; it will be delivered again`);
    if (payment.status === 'CAPTURED' || payment.status === 'REFUNDED' || payment.status === 'CAPTURE_FAILED') {
      return this.acknowledge(event, orderId, 'unchanged');
    }
    if (payment.status !== 'AUTHORIZED') {
      this.logger.error({ orderId, status: payment.status }, 'order shipped without an authorized payment; nothing to capture');
      return this.acknowledge(event, orderId, 'unchanged');
    }
    return this.settle(payment, 'capture', event);
  }

  /** Records that the order will not be paid, and voids its authorization if it has one. */
  private async orderClosed(event: EventEnvelope, orderId: string, reason: ClosureReason): Promise<SagaOutcome> {
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const { payment } = await this.store.orderPaymentState(orderId);
      if (payment?.status === 'AUTHORIZED') return this.voidPayment(event, payment, reason);
      const outcome = await this.transact(event, orderId, async (tx, markProcessed) => {
        // An authorization committed since the read above: plan again, now with something to void.
        if ((await tx.state()).payment?.status === 'AUTHORIZED') return { outcome: 'again' as const };
        if (!(await markProcessed())) return { outcome: 'duplicate' };
        if (payment?.status === 'CAPTURED') this.logger.error({ orderId, reason }, 'order closed after its payment was captured; refund it');
        await tx.closeOrder(reason);
        return { outcome: 'closed' };
      });
      if (outcome !== 'again') return outcome;
    }
    throw new Error(`order ${orderId} kept changing while its closure was handled; it will be delivered again`);
  }

  /**
   * Returns what was captured and not yet refunded; never more than was captured. An order
   * whose capture failed was never charged: its authorization is voided instead.
   */
  private async orderRefunded(event: EventEnvelope<'OrderRefunded'>): Promise<SagaOutcome> {
    const { orderId } = event.payload;
    const { payment } = await this.store.orderPaymentState(orderId);
    if (!payment || payment.status === 'AUTHORIZED') {
      throw new OutOfOrderEvent(`OrderRefunded of order ${orderId} arrived before its capture; it will be delivered again`);
    }
    if (payment.status === 'CAPTURE_FAILED') return this.settle(payment, 'void', event);
    if (payment.status === 'REFUNDED' || payment.status === 'REFUND_FAILED') return this.acknowledge(event, orderId, 'unchanged');
    if (payment.status !== 'CAPTURED') {
      this.logger.error({ orderId, status: payment.status }, 'order refunded without a captured payment; nothing to refund');
      return this.acknowledge(event, orderId, 'unchanged');
    }
    return this.settle(payment, 'refund', event);
  }

  /** Voids an authorized payment at the processor, then records VOIDED (or VOID_FAILED) and the order's closure. */
  private voidPayment(event: EventEnvelope, payment: PaymentRecord, reason: ClosureReason): Promise<SagaOutcome> {
    return this.settle(payment, 'void', event, reason);
  }

  /**
   * Retries what failed of a payment (CAPTURE_FAILED, VOID_FAILED, REFUND_FAILED) with the
   * same idempotency key, so a call that did reach the processor is not repeated; an admin
   * asks for it. Resolves the payment as it is afterwards, settled or failed again.
   */
  async retrySettlement(paymentId: string): Promise<PaymentRecord> {
    const payment = await this.paymentById(paymentId);
    const operation = RETRIED_OPERATION[payment.status];
    if (!operation) {
      throw new ShopError('CONFLICT', `A payment that is ${payment.status} has nothing to retry.`, { status: payment.status });
    }
    await this.settle(payment, operation);
    return this.paymentById(paymentId);
  }

  /**
   * Releases the hold of a payment whose capture failed (the goods left without the money
   * being taken) or whose void failed: an admin's decision to stop trying to charge it.
   */
  async voidAuthorization(paymentId: string): Promise<PaymentRecord> {
    const payment = await this.paymentById(paymentId);
    if (payment.status !== 'CAPTURE_FAILED' && payment.status !== 'VOID_FAILED') {
      throw new ShopError('CONFLICT', `Only a payment whose capture or void failed can be voided here; this one is ${payment.status}.`, {
        status: payment.status,
      });
    }
    await this.settle(payment, 'void');
    return this.paymentById(paymentId);
  }

  /**
   * Moves money for a payment at the processor (capture, void or refund), outside any
   * transaction and with the order's idempotency key for that operation, then records
   * the outcome under the order's lock with a compare-and-set from the status it had:
   * settled (and announced), or `<OPERATION>_FAILED` with the processor's reason when it
   * refused for good or stayed unavailable through the retries. With `event`, the message
   * is recorded as processed in the same transaction; with `closure`, the order's closure too.
   */
  private async settle(payment: PaymentRecord, operation: Settlement, event?: EventEnvelope, closure?: ClosureReason): Promise<SagaOutcome> {
    const { orderId } = payment;
    const plan = SETTLEMENTS[operation];
    const amount = plan.amount(payment);
    let failure: string | null = null;
    try {
      await this.call(orderId, operation, () => plan.perform(this.provider, referenceOf(payment), amount, orderId));
    } catch (error) {
      if (error instanceof ProviderRefusedError) failure = error.code;
      else if (error instanceof TransientProviderError) failure = 'processing_error';
      else throw error;
    }
    const record = async (tx: OrderPaymentTransaction): Promise<Step<SagaOutcome>> => {
      if (closure) await tx.closeOrder(closure);
      const change: PaymentChange = failure
        ? { status: plan.failed, failureCode: failure }
        : { status: plan.settled, failureCode: null, ...plan.change(payment, amount) };
      const updated = await tx.updatePayment(payment.id, payment.status, change);
      if ('kind' in updated) return this.conflict(orderId, operation, updated.current);
      if (failure) {
        paymentSettlementFailures.inc({ operation, code: failure });
        this.logger.error({ orderId, paymentId: payment.id, operation, code: failure }, 'payment processor did not settle; the payment needs an admin');
        return { outcome: 'settlement-failed' };
      }
      return { outcome: plan.outcome, events: [plan.announce(payment, amount, event?.requestId)] };
    };
    if (event) return this.commit(event, orderId, record);
    const done = await this.store.inOrderTransaction(orderId, async (tx) => {
      const step = await record(tx);
      if (step.events?.length) await tx.enqueue(step.events);
      return step;
    });
    if (done.events?.length) this.options.onEventsWritten?.();
    return done.outcome;
  }

  private async paymentById(paymentId: string): Promise<PaymentRecord> {
    const [payment] = await this.store.paymentsByIds([paymentId]);
    if (!payment) throw notFound(`Payment ${paymentId}`);
    return payment;
  }

  /** Marks the message processed and changes nothing else. */
  private acknowledge(event: EventEnvelope, orderId: string, outcome: SagaOutcome): Promise<SagaOutcome> {
    return this.commit(event, orderId, async () => ({ outcome }));
  }

  /**
   * One transaction of a handler under the order's lock: `work` decides whether and when
   * to record the message as processed (`markProcessed`); its outgoing events are written
   * in the same transaction, and the relay is told after commit.
   */
  private async transact<O extends string>(
    event: EventEnvelope,
    orderId: string,
    work: (tx: OrderPaymentTransaction, markProcessed: () => Promise<boolean>) => Promise<Step<O>>,
  ): Promise<O> {
    const done = await this.store.inOrderTransaction(orderId, async (tx) => {
      const step = await work(tx, () => tx.markProcessed(PAYMENT_CONSUMER_GROUP, event.id));
      if (step.events?.length) await tx.enqueue(step.events);
      return step;
    });
    if (done.events?.length) this.options.onEventsWritten?.();
    return done.outcome;
  }

  /** As `transact`, recording the message as processed first; a message processed before skips `work`. */
  private commit<O extends string>(event: EventEnvelope, orderId: string, work: (tx: OrderPaymentTransaction) => Promise<Step<O>>) {
    return this.transact<O | 'duplicate'>(event, orderId, async (tx, markProcessed) =>
      (await markProcessed()) ? work(tx) : { outcome: 'duplicate' },
    );
  }

  /** The processor's answer, retried through transient failures; when they never stop, the payment FAILED. */
  private async authorize(intent: PaymentIntent, token: string): Promise<AuthorizationDecision> {
    try {
      const result = await this.call(intent.orderId, 'authorize', () =>
        this.provider.authorize(money(intent.amount, intent.currency), token, idempotencyKeys.authorize(intent.orderId)),
      );
      if (result.kind === 'declined') return result;
      return { ...result, ...cardFromProcessor(result.brand, result.last4) };
    } catch (error) {
      if (!(error instanceof TransientProviderError)) throw error;
      this.logger.warn({ orderId: intent.orderId, attempts: this.retry.maxAttempts, error: error.message }, 'payment processor kept failing; payment failed');
      return { kind: 'failed', code: 'processing_error' };
    }
  }

  /** A provider call with retries of transient failures; what is left after the last attempt is thrown. */
  private call<T>(orderId: string, operation: string, call: () => Promise<T>): Promise<T> {
    return withRetry(call, {
      policy: this.retry,
      ...(this.options.sleep ? { sleep: this.options.sleep } : {}),
      onRetry: (attempt, delayMs, error) =>
        this.logger.warn({ orderId, operation, attempt, delayMs, error: error.message }, 'payment processor failed transiently; retrying'),
    });
  }

  /**
   * A compare-and-set that lost although the processor agreed: another delivery made the
   * same change first (the message is still recorded as processed).
   */
  private conflict(orderId: string, operation: string, current: string | null): { outcome: 'unchanged' } {
    this.logger.warn({ orderId, operation, current }, 'payment status changed meanwhile; nothing more to do');
    return { outcome: 'unchanged' };
  }
}

/** The payment an authorization decision records. */
function paymentOf(intent: PaymentIntent, decision: AuthorizationDecision): NewPayment {
  const authorized = decision.kind === 'authorized';
  return {
    id: paymentIdForOrder(intent.orderId),
    orderId: intent.orderId,
    customerId: intent.customerId,
    status: authorized ? 'AUTHORIZED' : decision.kind === 'declined' ? 'DECLINED' : 'FAILED',
    amount: intent.amount,
    capturedAmount: 0,
    refundedAmount: 0,
    currency: intent.currency,
    methodBrand: authorized ? decision.brand : null,
    methodLast4: authorized ? decision.last4 : null,
    failureCode: authorized ? null : decision.code,
    providerReference: authorized ? decision.reference : null,
  };
}

/** What the rest of the shop hears of an authorization decision. */
function announcement(payment: NewPayment, decision: AuthorizationDecision, requestId: string | undefined): EventEnvelope {
  const { orderId } = payment;
  const amount: Money = money(payment.amount, payment.currency);
  switch (decision.kind) {
    case 'authorized':
      return domainEvent('PaymentAuthorized', orderId, { orderId, paymentId: payment.id, amount }, requestId);
    case 'declined':
      return domainEvent('PaymentFailed', orderId, { orderId, reason: 'PAYMENT_DECLINED', declineCode: decision.code }, requestId);
    case 'failed':
      return domainEvent('PaymentFailed', orderId, { orderId, reason: 'PROCESSING_ERROR' }, requestId);
  }
}

function referenceOf(payment: PaymentRecord): string {
  if (!payment.providerReference) throw new Error(`payment ${payment.id} has no provider reference`);
  return payment.providerReference;
}
