import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { asc, eq } from 'drizzle-orm';
import pino from 'pino';
import { domainEvent, type EventEnvelope } from '../../../platform/events';
import { storeBackends, testDeps, type TestDeps } from '../../../platform/testing';
import { OutOfOrderEvent, PaymentSaga, type PaymentSagaOptions } from '../payment-saga';
import { paymentIdForOrder } from '../payments';
import { ProviderRefusedError, TransientProviderError, type PaymentProvider } from '../provider/port';
import { metricsRegistry } from '../../../platform/metrics';
import { retryPolicy } from '../provider/retry';
import { SimulatedCardProcessor, type LedgerEntry } from '../provider/simulated';
import type { StoreHandle } from '../../../platform/server';
import type { PaymentStore } from '../store/port';
import type { PostgresPaymentStore } from '../store/postgres';
import { outbox } from '../store/schema';
import { openPaymentStore, openSimulatedProcessor } from '../subgraph';

const CUSTOMER = 'cust-7';
const noWait = async () => {};

const placed = (orderId: string, paymentToken = 'tok_visa', amount = 2599) =>
  domainEvent('OrderPlaced', orderId, {
    orderId,
    customerId: CUSTOMER,
    lines: [{ productId: 'prod-1', quantity: 1, unitPrice: { amount, currency: 'USD' } }],
    total: { amount, currency: 'USD' },
    paymentToken,
  });
const reserved = (orderId: string) =>
  domainEvent('StockReserved', orderId, { orderId, expiresAt: new Date(Date.now() + 900_000).toISOString() });
const shipped = (orderId: string) => domainEvent('OrderShipped', orderId, { orderId });
const cancelled = (orderId: string) => domainEvent('OrderCancelled', orderId, { orderId });
const rejected = (orderId: string, reason: 'OUT_OF_STOCK' | 'RESERVATION_EXPIRED' = 'RESERVATION_EXPIRED') =>
  domainEvent('OrderRejected', orderId, { orderId, reason });
const refunded = (orderId: string) => domainEvent('OrderRefunded', orderId, { orderId });

describe.each(storeBackends())('payment saga on %s', (backend) => {
  let deps: TestDeps;
  let store: PostgresPaymentStore;
  let processor: SimulatedCardProcessor;
  let saga: PaymentSaga;
  let notified: number;

  let ledgerStore: StoreHandle;
  let ledgerProcessor: SimulatedCardProcessor;

  beforeAll(async () => {
    deps = await testDeps(backend, ['payment']);
    store = await openPaymentStore(deps);
    ({ processor: ledgerProcessor, store: ledgerStore } = await openSimulatedProcessor(deps));
  });
  afterAll(async () => {
    await ledgerStore?.close();
    await store?.close();
    await deps?.release();
  });

  /** A saga over the shared store; each test uses its own orders, processor and counters. */
  function newSaga(overrides: Partial<PaymentSagaOptions> = {}): PaymentSaga {
    return new PaymentSaga({
      store,
      provider: processor,
      logger: deps.logger,
      retry: retryPolicy({ maxAttempts: 4, baseMs: 1, maxMs: 4 }),
      sleep: noWait,
      onEventsWritten: () => void (notified += 1),
      ...overrides,
    });
  }

  beforeEach(() => {
    processor = ledgerProcessor;
    saga = newSaga();
    notified = 0;
  });

  const order = () => `order-${randomUUID()}`;
  const paymentOf = async (orderId: string) => (await store.orderPaymentState(orderId)).payment;
  const events = async (orderId: string) =>
    store.database.db
      .select({ type: outbox.type, payload: outbox.payload })
      .from(outbox)
      .where(eq(outbox.aggregateId, orderId))
      .orderBy(asc(outbox.seq));
  const ledgerOf = async (orderId: string, operation?: LedgerEntry['operation']) =>
    (await processor.ledger()).filter((e) => e.idempotencyKey.endsWith(`:${orderId}`) && (!operation || e.operation === operation));

  /** Delivers events in order, each once, and returns what each did. */
  async function deliver(...list: EventEnvelope[]) {
    const outcomes = [];
    for (const event of list) outcomes.push(await saga.handle(event));
    return outcomes;
  }

  async function authorizedOrder(token = 'tok_visa', amount = 2599): Promise<string> {
    const id = order();
    expect(await deliver(placed(id, token, amount), reserved(id))).toEqual(['intent-saved', 'authorized']);
    return id;
  }

  describe('authorization', () => {
    it('authorizes tok_visa once although StockReserved is delivered three times', async () => {
      const id = order();
      await saga.handle(placed(id));
      const event = reserved(id);
      expect(await deliver(event, event, event)).toEqual(['authorized', 'duplicate', 'duplicate']);

      const authorizations = await ledgerOf(id, 'authorize');
      expect(authorizations).toHaveLength(1);
      expect(authorizations[0]).toMatchObject({ outcome: 'approved', amount: { amount: 2599, currency: 'USD' }, idempotencyKey: `authorize:${id}` });
      expect(await paymentOf(id)).toMatchObject({
        id: paymentIdForOrder(id),
        orderId: id,
        customerId: CUSTOMER,
        status: 'AUTHORIZED',
        amount: 2599,
        currency: 'USD',
        methodBrand: 'Visa',
        methodLast4: '4242',
        failureCode: null,
        providerReference: authorizations[0]!.reference,
      });
      expect(await events(id)).toEqual([
        { type: 'PaymentAuthorized', payload: { orderId: id, paymentId: paymentIdForOrder(id), amount: { amount: 2599, currency: 'USD' } } },
      ]);
      expect(notified).toBe(1);
    });

    it('does not authorize again for another StockReserved of the same order, nor keep the token', async () => {
      const id = await authorizedOrder('tok_mastercard');
      expect(await deliver(reserved(id))).toEqual(['unchanged']);
      expect(await ledgerOf(id, 'authorize')).toHaveLength(1);
      expect(await paymentOf(id)).toMatchObject({ methodBrand: 'Mastercard', methodLast4: '4444' });
      expect((await store.orderPaymentState(id)).intent).toMatchObject({ amount: 2599, token: null });
    });

    it('ignores a redelivered OrderPlaced', async () => {
      const id = order();
      const event = placed(id);
      expect(await deliver(event, event)).toEqual(['intent-saved', 'duplicate']);
    });

    it.each([
      ['tok_chargeDeclined', 'card_declined'],
      ['tok_insufficientFunds', 'insufficient_funds'],
      ['tok_stolen', 'invalid_token'],
    ])('records %s as DECLINED (%s) and announces PaymentFailed', async (token, code) => {
      const id = order();
      const event = reserved(id);
      expect(await deliver(placed(id, token), event, event)).toEqual(['intent-saved', 'declined', 'duplicate']);
      expect(await paymentOf(id)).toMatchObject({ status: 'DECLINED', failureCode: code, methodBrand: null, methodLast4: null, providerReference: null });
      expect(await events(id)).toEqual([{ type: 'PaymentFailed', payload: { orderId: id, reason: 'PAYMENT_DECLINED', declineCode: code } }]);
      expect(await ledgerOf(id, 'authorize')).toEqual([expect.objectContaining({ outcome: 'declined', declineCode: code })]);
    });

    it('retries tok_processingError through its transient failures, then authorizes once', async () => {
      const slept: number[] = [];
      saga = newSaga({ sleep: async (ms) => void slept.push(ms) });
      const id = await authorizedOrder('tok_processingError');
      expect(await processor.attemptsOf(`authorize:${id}`)).toBe(3);
      expect(slept).toHaveLength(2);
      expect(await ledgerOf(id, 'authorize')).toEqual([expect.objectContaining({ outcome: 'approved' })]);
      expect(await paymentOf(id)).toMatchObject({ status: 'AUTHORIZED', methodBrand: 'Visa', methodLast4: '0119' });
      expect((await events(id)).map((e) => e.type)).toEqual(['PaymentAuthorized']);
    });

    it('gives up after the last attempt: FAILED, PaymentFailed(PROCESSING_ERROR), nothing charged', async () => {
      saga = newSaga({ retry: retryPolicy({ maxAttempts: 2, baseMs: 1, maxMs: 1 }) });
      const id = order();
      expect(await deliver(placed(id, 'tok_processingError'), reserved(id))).toEqual(['intent-saved', 'failed']);
      expect(await processor.attemptsOf(`authorize:${id}`)).toBe(2);
      expect(await ledgerOf(id)).toEqual([]);
      expect(await paymentOf(id)).toMatchObject({ status: 'FAILED', failureCode: 'processing_error', methodBrand: null });
      expect(await events(id)).toEqual([{ type: 'PaymentFailed', payload: { orderId: id, reason: 'PROCESSING_ERROR' } }]);
      // The order is decided: a later reservation does not try again.
      expect(await deliver(reserved(id))).toEqual(['unchanged']);
      expect(await processor.attemptsOf(`authorize:${id}`)).toBe(2);
    });

    it('refuses StockReserved that arrives before OrderPlaced, so the bus delivers it again', async () => {
      const id = order();
      const event = reserved(id);
      await expect(saga.handle(event)).rejects.toBeInstanceOf(OutOfOrderEvent);
      expect(await processor.attemptsOf(`authorize:${id}`)).toBe(0);
      expect(await store.orderPaymentState(id)).toEqual({ intent: null, payment: null, closure: null });
      // The same delivery, once the intent is there, authorizes.
      expect(await deliver(placed(id), event)).toEqual(['intent-saved', 'authorized']);
    });

    it('survives a crash after the processor authorized and before the commit: the redelivery charges nothing more', async () => {
      let crashes = 0;
      const crashing: PaymentStore = {
        ...store,
        recordDecision: (...args) => {
          if (crashes-- > 0) return Promise.reject(new Error('process died before commit'));
          return store.recordDecision(...args);
        },
        inOrderTransaction: (orderId, work) => {
          if (crashes-- > 0) return Promise.reject(new Error('process died before commit'));
          return store.inOrderTransaction(orderId, work);
        },
      };
      saga = newSaga({ store: crashing });
      const id = order();
      await saga.handle(placed(id));
      crashes = 1;
      const event = reserved(id);
      await expect(saga.handle(event)).rejects.toThrow('process died before commit');
      expect(await ledgerOf(id, 'authorize')).toHaveLength(1);
      expect(await paymentOf(id)).toBeNull();
      expect(await saga.handle(event)).toBe('authorized');
      expect(await ledgerOf(id, 'authorize')).toHaveLength(1);
      expect((await paymentOf(id))?.providerReference).toBe((await ledgerOf(id, 'authorize'))[0]!.reference);
      expect((await events(id)).map((e) => e.type)).toEqual(['PaymentAuthorized']);
    });
  });

  describe('round trips per step', () => {
    /**
     * Statements and transactions `work` sends to the payment database, and statements to the
     * processor's storage: each is a round trip, and so are a transaction's BEGIN and COMMIT.
     */
    async function cost(work: () => Promise<unknown>) {
      const transactions = jest.spyOn(store.database.db, 'transaction');
      const payment = store.statementCount();
      const atProcessor = ledgerStore.statementCount!();
      try {
        await work();
        return {
          statements: store.statementCount() - payment,
          transactions: transactions.mock.calls.length,
          processorStatements: ledgerStore.statementCount!() - atProcessor,
        };
      } finally {
        transactions.mockRestore();
      }
    }

    it.each(['tok_visa', 'tok_chargeDeclined'])(
      'keeps the intent with 1 statement and decides the payment (%s) with 2, no BEGIN or COMMIT around them, and 1 at the processor',
      async (token) => {
        const id = order();
        // The order's lock, then the processed message and the intent: one statement, its own transaction.
        expect(await cost(() => saga.handle(placed(id, token)))).toEqual({ statements: 1, transactions: 0, processorStatements: 0 });
        // The intent read; at the processor, the answer with its charge and ledger entry; then one statement:
        // the lock, and processed message, payment, forgotten token and announcement together.
        const event = reserved(id);
        expect(await cost(() => saga.handle(event))).toEqual({ statements: 2, transactions: 0, processorStatements: 1 });
        // A redelivery reads the payment, then locks and finds the message handled in a transaction.
        expect(await cost(() => saga.handle(event))).toEqual({ statements: 3, transactions: 1, processorStatements: 0 });
        expect(await cost(() => saga.handle(placed(id, token)))).toEqual({ statements: 1, transactions: 0, processorStatements: 0 });
        expect((await events(id)).map((e) => e.type)).toEqual([token === 'tok_visa' ? 'PaymentAuthorized' : 'PaymentFailed']);
      },
    );
  });

  it('logs what it did by ids, never the payment token', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _encoding, done) => void (lines.push(String(chunk)), done()) });
    saga = newSaga({ logger: pino({ level: 'trace' }, sink) });
    const late = order();
    await expect(saga.handle(reserved(late))).rejects.toThrow(OutOfOrderEvent);
    const id = order();
    await deliver(placed(id, 'tok_processingError'), reserved(id), placed(late, 'tok_chargeDeclined'), reserved(late));
    expect(lines.join('')).toContain(id);
    expect(lines.some((line) => JSON.parse(line).msg === 'payment processor failed transiently; retrying')).toBe(true);
    expect(lines.join('')).not.toMatch(/tok_/);
  });

  describe('capture', () => {
    it('captures the authorized amount on shipment, once', async () => {
      const id = await authorizedOrder('tok_visa', 4100);
      const event = shipped(id);
      expect(await deliver(event, event, shipped(id))).toEqual(['captured', 'duplicate', 'unchanged']);
      expect(await paymentOf(id)).toMatchObject({ status: 'CAPTURED', amount: 4100, capturedAmount: 4100, refundedAmount: 0 });
      expect(await ledgerOf(id, 'capture')).toEqual([expect.objectContaining({ amount: { amount: 4100, currency: 'USD' }, idempotencyKey: `capture:${id}` })]);
      expect((await events(id)).slice(1)).toEqual([
        { type: 'PaymentCaptured', payload: { orderId: id, paymentId: paymentIdForOrder(id), amount: { amount: 4100, currency: 'USD' } } },
      ]);
    });

    it('refuses OrderShipped before the payment exists, so the bus delivers it again', async () => {
      const id = order();
      await saga.handle(placed(id));
      await expect(saga.handle(shipped(id))).rejects.toBeInstanceOf(OutOfOrderEvent);
    });

    it('captures nothing for a declined payment', async () => {
      const id = order();
      await deliver(placed(id, 'tok_chargeDeclined'), reserved(id));
      expect(await deliver(shipped(id))).toEqual(['unchanged']);
      expect(await ledgerOf(id, 'capture')).toEqual([]);
    });
  });

  describe('void', () => {
    it('voids an authorized payment when the order is cancelled, once', async () => {
      const id = await authorizedOrder();
      const event = cancelled(id);
      expect(await deliver(event, event)).toEqual(['voided', 'duplicate']);
      expect(await paymentOf(id)).toMatchObject({ status: 'VOIDED', capturedAmount: 0 });
      expect(await ledgerOf(id, 'void')).toEqual([expect.objectContaining({ outcome: 'approved', idempotencyKey: `void:${id}` })]);
      expect((await events(id)).map((e) => e.type)).toEqual(['PaymentAuthorized', 'PaymentVoided']);
      expect((await store.orderPaymentState(id)).closure).toMatchObject({ reason: 'CANCELLED' });
      // Shipment of a cancelled order captures nothing.
      expect(await deliver(shipped(id))).toEqual(['unchanged']);
      expect(await ledgerOf(id, 'capture')).toEqual([]);
    });

    it('voids an authorized payment when the order is rejected (its reservation expired)', async () => {
      const id = await authorizedOrder();
      expect(await deliver(rejected(id))).toEqual(['voided']);
      expect(await paymentOf(id)).toMatchObject({ status: 'VOIDED' });
      expect((await store.orderPaymentState(id)).closure).toMatchObject({ reason: 'REJECTED' });
    });

    it('does not void a declined payment', async () => {
      const id = order();
      await deliver(placed(id, 'tok_insufficientFunds'), reserved(id));
      expect(await deliver(cancelled(id))).toEqual(['closed']);
      expect(await ledgerOf(id, 'void')).toEqual([]);
      expect(await paymentOf(id)).toMatchObject({ status: 'DECLINED' });
    });
  });

  describe('cancellation before authorization', () => {
    it('records the cancellation, so a later StockReserved does not authorize', async () => {
      const id = order();
      expect(await deliver(placed(id), cancelled(id), reserved(id))).toEqual(['intent-saved', 'closed', 'unchanged']);
      expect(await processor.attemptsOf(`authorize:${id}`)).toBe(0);
      expect(await store.orderPaymentState(id)).toMatchObject({ payment: null, closure: { reason: 'CANCELLED' }, intent: { token: null } });
      expect(await events(id)).toEqual([]);
    });

    it('holds when the cancellation arrives even before OrderPlaced, and the token is never kept', async () => {
      const id = order();
      expect(await deliver(cancelled(id), placed(id), reserved(id))).toEqual(['closed', 'intent-saved', 'unchanged']);
      expect(await processor.attemptsOf(`authorize:${id}`)).toBe(0);
      expect((await store.orderPaymentState(id)).intent).toMatchObject({ amount: 2599, token: null });
    });

    it('a rejection for lack of stock also keeps a stray StockReserved from authorizing', async () => {
      const id = order();
      expect(await deliver(placed(id), rejected(id, 'OUT_OF_STOCK'), reserved(id))).toEqual(['intent-saved', 'closed', 'unchanged']);
      expect(await processor.attemptsOf(`authorize:${id}`)).toBe(0);
    });

    it('voids an authorization that raced the cancellation, and never announces it', async () => {
      const id = order();
      // The cancellation commits while the processor is still answering the authorization.
      const racing: PaymentProvider = {
        capture: (...args) => processor.capture(...args),
        void: (...args) => processor.void(...args),
        refund: (...args) => processor.refund(...args),
        authorize: async (...args) => {
          const answer = await processor.authorize(...args);
          expect(await saga.handle(cancelled(id))).toBe('closed');
          return answer;
        },
      };
      const racingSaga = newSaga({ provider: racing });
      await saga.handle(placed(id));
      expect(await racingSaga.handle(reserved(id))).toBe('voided');
      expect(await paymentOf(id)).toMatchObject({ status: 'VOIDED', methodBrand: 'Visa' });
      expect((await ledgerOf(id)).map((e) => e.operation)).toEqual(['authorize', 'void']);
      expect((await events(id)).map((e) => e.type)).toEqual(['PaymentVoided']);
    });

    it('finishes the void on redelivery when it failed after the raced authorization was recorded', async () => {
      const id = order();
      let voidFails = true;
      const flaky: PaymentProvider = {
        capture: (...args) => processor.capture(...args),
        refund: (...args) => processor.refund(...args),
        void: (...args) => (voidFails ? Promise.reject(new Error('processor unreachable')) : processor.void(...args)),
        authorize: async (...args) => {
          const answer = await processor.authorize(...args);
          await saga.handle(cancelled(id));
          return answer;
        },
      };
      const flakySaga = newSaga({ provider: flaky });
      await saga.handle(placed(id));
      const event = reserved(id);
      await expect(flakySaga.handle(event)).rejects.toThrow('processor unreachable');
      // The hold is on record, so it cannot be forgotten.
      expect(await paymentOf(id)).toMatchObject({ status: 'AUTHORIZED' });
      expect(await events(id)).toEqual([]);
      voidFails = false;
      expect(await flakySaga.handle(event)).toBe('voided');
      expect(await paymentOf(id)).toMatchObject({ status: 'VOIDED' });
      expect((await ledgerOf(id)).map((e) => e.operation)).toEqual(['authorize', 'void']);
    });
  });

  describe('money the processor will not move', () => {
    /** The processor, with its capture, void or refund answering as the test says until told otherwise. */
    function processorWith(overrides: Partial<PaymentProvider>): PaymentProvider {
      return {
        authorize: (...args) => processor.authorize(...args),
        capture: (...args) => processor.capture(...args),
        void: (...args) => processor.void(...args),
        refund: (...args) => processor.refund(...args),
        ...overrides,
      };
    }
    const down = () => Promise.reject(new TransientProviderError('processor unavailable'));
    const failures = async (operation: string, code: string) =>
      (await metricsRegistry.getSingleMetric('shop_payment_settlement_failures_total')!.get()).values.find(
        (v) => v.labels.operation === operation && v.labels.code === code,
      )?.value ?? 0;

    it('marks a capture the processor refuses for good CAPTURE_FAILED with its reason, and handles the message', async () => {
      const id = await authorizedOrder('tok_visa', 2100);
      // The processor lost the charge (as one that forgot its ledger would).
      const forgetful = newSaga({ provider: processorWith({ capture: () => Promise.reject(new ProviderRefusedError('no_such_charge', 'no charge')) }) });
      const before = await failures('capture', 'no_such_charge');
      const event = shipped(id);
      expect(await forgetful.handle(event)).toBe('settlement-failed');
      expect(await forgetful.handle(event)).toBe('duplicate');
      expect(await paymentOf(id)).toMatchObject({ status: 'CAPTURE_FAILED', failureCode: 'no_such_charge', capturedAmount: 0 });
      expect(await failures('capture', 'no_such_charge')).toBe(before + 1);
      expect((await events(id)).map((e) => e.type)).toEqual(['PaymentAuthorized']);
      // Another OrderShipped finds it decided, and leaves it for an admin.
      expect(await saga.handle(shipped(id))).toBe('unchanged');
    });

    it('marks a capture CAPTURE_FAILED when the processor stays down through the retries; an admin retry captures once it is back', async () => {
      const id = await authorizedOrder('tok_visa', 3300);
      expect(await newSaga({ provider: processorWith({ capture: down }) }).handle(shipped(id))).toBe('settlement-failed');
      const failed = await paymentOf(id);
      expect(failed).toMatchObject({ status: 'CAPTURE_FAILED', failureCode: 'processing_error' });

      const told = notified;
      const settled = await saga.retrySettlement(failed!.id);
      expect(settled).toMatchObject({ status: 'CAPTURED', capturedAmount: 3300, failureCode: null });
      expect(await ledgerOf(id, 'capture')).toEqual([expect.objectContaining({ idempotencyKey: `capture:${id}`, amount: { amount: 3300, currency: 'USD' } })]);
      expect((await events(id)).map((e) => e.type)).toEqual(['PaymentAuthorized', 'PaymentCaptured']);
      // The relay hears of the event written outside any delivery, too.
      expect(notified).toBe(told + 1);
      await expect(saga.retrySettlement(failed!.id)).rejects.toMatchObject({ extensions: { code: 'CONFLICT' } });
    });

    it('an admin retry that fails again keeps the payment failed, with the new reason', async () => {
      const id = await authorizedOrder();
      await newSaga({ provider: processorWith({ capture: down }) }).handle(shipped(id));
      const payment = (await paymentOf(id))!;
      const refusing = newSaga({ provider: processorWith({ capture: () => Promise.reject(new ProviderRefusedError('charge_expired', 'too old')) }) });
      expect(await refusing.retrySettlement(payment.id)).toMatchObject({ status: 'CAPTURE_FAILED', failureCode: 'charge_expired' });
    });

    it('an admin can void the hold of a payment whose capture failed', async () => {
      const id = await authorizedOrder();
      await newSaga({ provider: processorWith({ capture: down }) }).handle(shipped(id));
      const payment = (await paymentOf(id))!;
      expect(await saga.voidAuthorization(payment.id)).toMatchObject({ status: 'VOIDED', failureCode: null, capturedAmount: 0 });
      expect((await ledgerOf(id)).map((e) => e.operation)).toEqual(['authorize', 'void']);
      expect((await events(id)).map((e) => e.type)).toEqual(['PaymentAuthorized', 'PaymentVoided']);
      await expect(saga.voidAuthorization(payment.id)).rejects.toMatchObject({ extensions: { code: 'CONFLICT' } });
    });

    it('refuses to retry or void a payment that has nothing failed, or none at all', async () => {
      const id = await authorizedOrder();
      const payment = (await paymentOf(id))!;
      await expect(saga.retrySettlement(payment.id)).rejects.toMatchObject({ extensions: { code: 'CONFLICT' } });
      await expect(saga.voidAuthorization(payment.id)).rejects.toMatchObject({ extensions: { code: 'CONFLICT' } });
      await expect(saga.retrySettlement('no-such-payment')).rejects.toMatchObject({ extensions: { code: 'NOT_FOUND' } });
      expect(await ledgerOf(id, 'void')).toEqual([]);
    });

    it('refunding an order whose capture failed releases the hold instead', async () => {
      const id = await authorizedOrder();
      await newSaga({ provider: processorWith({ capture: down }) }).handle(shipped(id));
      expect(await saga.handle(refunded(id))).toBe('voided');
      expect(await paymentOf(id)).toMatchObject({ status: 'VOIDED' });
      expect(await ledgerOf(id, 'refund')).toEqual([]);
    });

    it('marks a void that fails for good VOID_FAILED and still closes the order; a retry voids it', async () => {
      const id = await authorizedOrder();
      const stuck = newSaga({ provider: processorWith({ void: down }) });
      expect(await stuck.handle(cancelled(id))).toBe('settlement-failed');
      expect(await paymentOf(id)).toMatchObject({ status: 'VOID_FAILED', failureCode: 'processing_error' });
      expect((await store.orderPaymentState(id)).closure).toMatchObject({ reason: 'CANCELLED' });
      expect(await saga.retrySettlement((await paymentOf(id))!.id)).toMatchObject({ status: 'VOIDED' });
    });

    it('marks a refund that fails REFUND_FAILED, still showing what was captured; a retry refunds it once', async () => {
      const id = await authorizedOrder('tok_visa', 5000);
      await deliver(shipped(id));
      expect(await newSaga({ provider: processorWith({ refund: down }) }).handle(refunded(id))).toBe('settlement-failed');
      expect(await paymentOf(id)).toMatchObject({ status: 'REFUND_FAILED', capturedAmount: 5000, refundedAmount: 0 });
      expect(await saga.retrySettlement((await paymentOf(id))!.id)).toMatchObject({ status: 'REFUNDED', refundedAmount: 5000 });
      expect(await ledgerOf(id, 'refund')).toHaveLength(1);
    });

    it('lists the payments that need an admin and counts them by status', async () => {
      const id = await authorizedOrder();
      await newSaga({ provider: processorWith({ capture: down }) }).handle(shipped(id));
      const waiting = await store.paymentsInStatuses(['CAPTURE_FAILED', 'VOID_FAILED', 'REFUND_FAILED'], 1000);
      expect(waiting.map((p) => p.orderId)).toContain(id);
      const counts = await store.countByStatus(['CAPTURE_FAILED']);
      expect(counts.CAPTURE_FAILED).toBe(waiting.filter((p) => p.status === 'CAPTURE_FAILED').length);
    });
  });

  describe('refund', () => {
    it('refunds the captured amount once, never more', async () => {
      const id = await authorizedOrder('tok_visa', 7300);
      await deliver(shipped(id));
      const event = refunded(id);
      expect(await deliver(event, event, refunded(id))).toEqual(['refunded', 'duplicate', 'unchanged']);
      expect(await paymentOf(id)).toMatchObject({ status: 'REFUNDED', capturedAmount: 7300, refundedAmount: 7300 });
      expect(await ledgerOf(id, 'refund')).toEqual([expect.objectContaining({ amount: { amount: 7300, currency: 'USD' }, idempotencyKey: `refund:${id}` })]);
      expect((await events(id)).map((e) => e.type)).toEqual(['PaymentAuthorized', 'PaymentCaptured', 'PaymentRefunded']);
      expect((await events(id))[2]!.payload).toEqual({ orderId: id, paymentId: paymentIdForOrder(id), amount: { amount: 7300, currency: 'USD' } });
    });

    it('refuses OrderRefunded before the capture, so the bus delivers it again', async () => {
      const id = await authorizedOrder();
      await expect(saga.handle(refunded(id))).rejects.toBeInstanceOf(OutOfOrderEvent);
      expect(await ledgerOf(id, 'refund')).toEqual([]);
    });

    it('refunds nothing for a voided payment', async () => {
      const id = await authorizedOrder();
      await deliver(cancelled(id));
      expect(await deliver(refunded(id))).toEqual(['unchanged']);
      expect(await ledgerOf(id, 'refund')).toEqual([]);
    });
  });

  if (backend === 'postgres') {
    describe('concurrency', () => {
      it('20 concurrent deliveries of one StockReserved: exactly one authorization and one PaymentAuthorized', async () => {
        processor = ledgerProcessor.withOptions({ latencyMs: 25 });
        saga = newSaga();
        const id = order();
        await saga.handle(placed(id));
        const event = reserved(id);
        const outcomes = await Promise.all(Array.from({ length: 20 }, () => saga.handle(event)));
        expect(outcomes.filter((o) => o === 'authorized')).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(19);
        expect(await ledgerOf(id, 'authorize')).toHaveLength(1);
        expect((await events(id)).map((e) => e.type)).toEqual(['PaymentAuthorized']);
        expect(await paymentOf(id)).toMatchObject({ status: 'AUTHORIZED' });
      });

      it('a cancellation racing the authorization never leaves money held', async () => {
        processor = ledgerProcessor.withOptions({ latencyMs: 10 });
        saga = newSaga();
        const ids = Array.from({ length: 10 }, order);
        for (const id of ids) await saga.handle(placed(id));
        await Promise.all(ids.flatMap((id) => [saga.handle(reserved(id)), saga.handle(cancelled(id))]));
        for (const id of ids) {
          const { payment, closure } = await store.orderPaymentState(id);
          expect(closure?.reason).toBe('CANCELLED');
          // Either nothing was authorized, or what was authorized was voided.
          expect(payment === null || payment.status === 'VOIDED').toBe(true);
          expect((await ledgerOf(id, 'authorize')).length).toBe((await ledgerOf(id, 'void')).length);
          // An authorization that committed before the cancellation took the order's lock is
          // announced, and then its void; one still in flight is voided without being announced.
          const types = (await events(id)).map((e) => e.type);
          expect([[], ['PaymentVoided'], ['PaymentAuthorized', 'PaymentVoided']]).toContainEqual(types);
        }
      });

      it('concurrent shipments capture once', async () => {
        processor = ledgerProcessor.withOptions({ latencyMs: 10 });
        saga = newSaga();
        const id = await authorizedOrder();
        const outcomes = await Promise.all(Array.from({ length: 10 }, () => saga.handle(shipped(id))));
        expect(outcomes.filter((o) => o === 'captured')).toHaveLength(1);
        expect(await ledgerOf(id, 'capture')).toHaveLength(1);
        expect((await events(id)).filter((e) => e.type === 'PaymentCaptured')).toHaveLength(1);
      });
    });
  }
});
