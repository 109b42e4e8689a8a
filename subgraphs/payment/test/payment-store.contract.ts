import { domainEvent } from '../../../platform/events';
import type { NewPayment, NewPaymentIntent, PaymentStore } from '../store/port';

/** A payment of `order-<id>` authorized for 50.00 USD, with `overrides`. */
export function newPayment(id: string, overrides: Partial<NewPayment> = {}): NewPayment {
  return {
    id,
    orderId: `order-${id}`,
    customerId: 'cust-1',
    status: 'AUTHORIZED',
    amount: 5000,
    capturedAmount: 0,
    refundedAmount: 0,
    currency: 'USD',
    methodBrand: 'Visa',
    methodLast4: '4242',
    providerReference: null,
    ...overrides,
  };
}

/** An intent of `orderId` to pay 25.99 USD with tok_visa, with `overrides`. */
export function newIntent(orderId: string, overrides: Partial<NewPaymentIntent> = {}): NewPaymentIntent {
  return { orderId, customerId: 'cust-1', amount: 2599, currency: 'USD', token: 'tok_visa', ...overrides };
}

export interface OpenedPaymentStore {
  store: PaymentStore;
  /** Types of the outbox events about an aggregate, oldest first (the relay's view, read by the test). */
  outboxTypes(aggregateId: string): Promise<string[]>;
  release(): Promise<void>;
}

/** What every PaymentStore adapter must do; run against each available adapter. */
export function paymentStoreContract(open: () => Promise<OpenedPaymentStore>, backend: string) {
  let store: PaymentStore;
  let outboxTypes: OpenedPaymentStore['outboxTypes'];
  let release: () => Promise<void>;

  beforeAll(async () => {
    ({ store, outboxTypes, release } = await open());
  });
  afterAll(() => release());

  it('answers ready and starts empty', async () => {
    expect(await store.ready()).toBe(true);
    expect(await store.paymentsByIds(['p1'])).toEqual([]);
  });

  it('creates a payment and returns it as stored', async () => {
    const { payment, created } = await store.createPayment(newPayment('p1', { createdAt: new Date('2024-01-02T03:04:05Z') }));
    expect(created).toBe(true);
    expect(payment).toMatchObject({ id: 'p1', orderId: 'order-p1', status: 'AUTHORIZED', amount: 5000, currency: 'USD', methodLast4: '4242' });
    expect(payment.createdAt.toISOString()).toBe('2024-01-02T03:04:05.000Z');
  });

  it('a second payment for the same order returns the first and writes nothing', async () => {
    const again = await store.createPayment(newPayment('p1-retry', { orderId: 'order-p1', amount: 1 }));
    expect(again.created).toBe(false);
    expect(again.payment).toMatchObject({ id: 'p1', amount: 5000 });
    expect(await store.paymentsByIds(['p1-retry'])).toEqual([]);
  });

  it('reads payments by id and by order in one statement each; unknown ones are absent', async () => {
    await store.createPayment(newPayment('p2', { customerId: 'cust-2' }));
    let before = store.statementCount();
    expect((await store.paymentsByIds(['p2', 'p1', 'missing'])).map((p) => p.id).sort()).toEqual(['p1', 'p2']);
    expect(store.statementCount() - before).toBe(1);
    before = store.statementCount();
    expect((await store.paymentsByOrderIds(['order-p2', 'order-none'])).map((p) => p.id)).toEqual(['p2']);
    expect(store.statementCount() - before).toBe(1);
    expect(await store.paymentsByIds([])).toEqual([]);
    expect(await store.paymentsByOrderIds([])).toEqual([]);
  });

  it('changes status only from the expected one (compare-and-set)', async () => {
    await store.createPayment(newPayment('p3'));
    const captured = await store.updatePayment('p3', 'AUTHORIZED', { status: 'CAPTURED', capturedAmount: 5000, providerReference: 'prov-3' });
    expect(captured).toMatchObject({ id: 'p3', status: 'CAPTURED', capturedAmount: 5000, providerReference: 'prov-3' });
    const voidAfterCapture = await store.updatePayment('p3', 'AUTHORIZED', { status: 'VOIDED' });
    expect(voidAfterCapture).toEqual({ kind: 'status-conflict', current: 'CAPTURED' });
    expect((await store.paymentsByIds(['p3']))[0]?.status).toBe('CAPTURED');
    expect(await store.updatePayment('nope', 'AUTHORIZED', { status: 'VOIDED' })).toEqual({ kind: 'status-conflict', current: null });
  });

  it('lets exactly one of many concurrent captures win', async () => {
    await store.createPayment(newPayment('p4'));
    const results = await Promise.all(
      Array.from({ length: 10 }, () => store.updatePayment('p4', 'AUTHORIZED', { status: 'CAPTURED', capturedAmount: 5000 })),
    );
    expect(results.filter((r) => !('kind' in r))).toHaveLength(1);
    expect(results.filter((r) => 'kind' in r)).toHaveLength(9);
  });

  it('keeps the money invariants at the database', async () => {
    await store.createPayment(newPayment('p5'));
    await expect(store.updatePayment('p5', 'AUTHORIZED', { status: 'CAPTURED', capturedAmount: 5001 })).rejects.toThrow();
    await store.updatePayment('p5', 'AUTHORIZED', { status: 'CAPTURED', capturedAmount: 3000 });
    await expect(store.updatePayment('p5', 'CAPTURED', { status: 'REFUNDED', refundedAmount: 3001 })).rejects.toThrow();
    expect(await store.updatePayment('p5', 'CAPTURED', { status: 'REFUNDED', refundedAmount: 3000 })).toMatchObject({ refundedAmount: 3000 });
    await expect(store.createPayment(newPayment('p6', { amount: -1 }))).rejects.toThrow();
    await expect(store.createPayment(newPayment('p7', { methodLast4: '42x2' }))).rejects.toThrow();
    await expect(store.createPayment(newPayment('p8', { status: 'PENDING' as never }))).rejects.toThrow();
  });

  it('records a payment that did not go through without a card, and only such a payment with a failure code', async () => {
    const { payment } = await store.createPayment(
      newPayment('d1', { status: 'DECLINED', methodBrand: null, methodLast4: null, failureCode: 'card_declined' }),
    );
    expect(payment).toMatchObject({ status: 'DECLINED', methodBrand: null, methodLast4: null, failureCode: 'card_declined' });
    expect((await store.createPayment(newPayment('f1', { status: 'FAILED', methodBrand: null, methodLast4: null }))).payment.status).toBe('FAILED');
    expect((await store.createPayment(newPayment('a1'))).payment.failureCode).toBeNull();
    await expect(store.createPayment(newPayment('d2', { methodBrand: null, methodLast4: null }))).rejects.toThrow();
    await expect(store.createPayment(newPayment('d3', { failureCode: 'card_declined' }))).rejects.toThrow();
  });

  it('knows nothing of an order it never heard of', async () => {
    expect(await store.orderPaymentState('order-unheard')).toEqual({ intent: null, payment: null, closure: null });
  });

  it('keeps the first intent of an order and reads intent, payment and closure together', async () => {
    expect(await store.acceptIntent('payment', 'placed-i1', newIntent('order-i1'))).toBe(true);
    expect(await store.acceptIntent('payment', 'placed-i1-again', newIntent('order-i1', { amount: 1, token: 'tok_other' }))).toBe(true);
    expect(await store.acceptIntent('payment', 'placed-i1', newIntent('order-i1', { amount: 2 }))).toBe(false);
    await store.createPayment(newPayment('i1', { orderId: 'order-i1', amount: 2599 }));
    const state = await store.orderPaymentState('order-i1');
    expect(state.intent).toMatchObject({ orderId: 'order-i1', customerId: 'cust-1', amount: 2599, currency: 'USD', token: 'tok_visa' });
    expect(state.intent?.createdAt).toBeInstanceOf(Date);
    expect(state.payment).toMatchObject({ id: 'i1', status: 'AUTHORIZED' });
    expect(state.closure).toBeNull();
  });

  it('accepts an intent and records a decision each in one statement of its own', async () => {
    const before = store.statementCount();
    expect(await store.acceptIntent('payment', 'placed-o1', newIntent('order-o1'))).toBe(true);
    expect(await store.acceptIntent('payment', 'placed-o1', newIntent('order-o1', { amount: 1 }))).toBe(false);
    expect(store.statementCount() - before).toBe(2);

    // A message handled before, while the order is still open: nothing is written.
    await store.inOrderTransaction('order-o1', (tx) => tx.markProcessed('payment', 'reserved-o1-early'));
    const announced = [domainEvent('PaymentAuthorized', 'order-o1', { orderId: 'order-o1', paymentId: 'o1', amount: { amount: 2599, currency: 'USD' } })];
    expect(await store.recordDecision('payment', 'reserved-o1-early', newPayment('o1', { amount: 2599 }), announced)).toBe('duplicate');
    expect(await outboxTypes('order-o1')).toEqual([]);

    const counted = store.statementCount();
    expect(await store.recordDecision('payment', 'reserved-o1', newPayment('o1', { amount: 2599 }), announced)).toBe('recorded');
    expect(store.statementCount() - counted).toBe(1);
    const state = await store.orderPaymentState('order-o1');
    expect(state.payment).toMatchObject({ id: 'o1', status: 'AUTHORIZED', amount: 2599 });
    expect(state.intent?.token).toBeNull();
    expect(await outboxTypes('order-o1')).toEqual(['PaymentAuthorized']);
    // Decided: another decision, or the same message again, writes nothing.
    expect(await store.recordDecision('payment', 'reserved-o1', newPayment('o1-again', { orderId: 'order-o1' }), announced)).toBe('settled');
    expect(await store.recordDecision('payment', 'reserved-o1-other', newPayment('o1-again', { orderId: 'order-o1' }), announced)).toBe('settled');
    expect(await store.paymentsByIds(['o1-again'])).toEqual([]);
    expect(await outboxTypes('order-o1')).toEqual(['PaymentAuthorized']);
  });

  it('gathers the calls made side by side into one statement each, every order answered and written as if alone', async () => {
    await store.acceptIntent('payment', 'placed-s-dup', newIntent('order-s-dup'));
    await store.inOrderTransaction('order-s-closed', (tx) => tx.closeOrder('CANCELLED'));
    let before = store.statementCount();
    const accepted = await Promise.all([
      store.acceptIntent('payment', 'placed-s2', newIntent('order-s2', { amount: 1200 })),
      store.acceptIntent('payment', 'placed-s-dup', newIntent('order-s-dup')),
      store.acceptIntent('payment', 'placed-s-closed', newIntent('order-s-closed')),
      store.acceptIntent('payment', 'placed-s1', newIntent('order-s1', { amount: 800, token: 'tok_mastercard' })),
    ]);
    expect(accepted).toEqual([true, false, true, true]);
    expect(store.statementCount() - before).toBe(1);

    before = store.statementCount();
    // Reads: the same order twice shares the statement too.
    const states = await Promise.all(['order-s1', 'order-s-closed', 'order-s-unknown', 'order-s1'].map((orderId) => store.orderPaymentState(orderId)));
    expect(store.statementCount() - before).toBe(1);
    expect(states[3]).toEqual(states[0]);
    expect(states[0]).toMatchObject({ intent: { orderId: 'order-s1', amount: 800, token: 'tok_mastercard' }, payment: null, closure: null });
    expect(states[1]).toMatchObject({ intent: { token: null }, payment: null, closure: { reason: 'CANCELLED' } });
    expect(states[2]).toEqual({ intent: null, payment: null, closure: null });

    const authorized = (id: string, amount: number) =>
      domainEvent('PaymentAuthorized', `order-${id}`, { orderId: `order-${id}`, paymentId: id, amount: { amount, currency: 'USD' } });
    await store.recordDecision('payment', 'reserved-s-dup', newPayment('s-dup'), [authorized('s-dup', 5000)]);
    before = store.statementCount();
    const recorded = await Promise.all([
      store.recordDecision('payment', 'reserved-s2', newPayment('s2', { amount: 1200 }), [authorized('s2', 1200)]),
      store.recordDecision('payment', 'reserved-s-closed', newPayment('s-closed'), [authorized('s-closed', 5000)]),
      store.recordDecision('payment', 'reserved-s-dup-again', newPayment('s-dup-again', { orderId: 'order-s-dup' }), [authorized('s-dup', 5000)]),
      store.recordDecision('payment', 'reserved-s1', newPayment('s1', { amount: 800, status: 'DECLINED', methodBrand: null, methodLast4: null, failureCode: 'card_declined' }), [
        domainEvent('PaymentFailed', 'order-s1', { orderId: 'order-s1', reason: 'PAYMENT_DECLINED' }),
      ]),
    ]);
    expect(recorded).toEqual(['recorded', 'settled', 'settled', 'recorded']);
    expect(store.statementCount() - before).toBe(1);
    expect((await store.orderPaymentState('order-s2')).payment).toMatchObject({ id: 's2', status: 'AUTHORIZED', amount: 1200 });
    expect((await store.orderPaymentState('order-s1')).payment).toMatchObject({ id: 's1', status: 'DECLINED', failureCode: 'card_declined', methodBrand: null });
    expect((await store.orderPaymentState('order-s1')).intent?.token).toBeNull();
    expect(await store.paymentsByIds(['s-closed', 's-dup-again'])).toEqual([]);
    expect(await outboxTypes('order-s2')).toEqual(['PaymentAuthorized']);
    expect(await outboxTypes('order-s1')).toEqual(['PaymentFailed']);
    expect(await outboxTypes('order-s-closed')).toEqual([]);
    expect(await outboxTypes('order-s-dup')).toEqual(['PaymentAuthorized']);
  });

  it('fails only the call whose decision cannot be written when decisions are recorded together', async () => {
    await Promise.all(['order-f1', 'order-f2'].map((orderId) => store.acceptIntent('payment', `placed-${orderId}`, newIntent(orderId))));
    const outcomes = await Promise.allSettled([
      store.recordDecision('payment', 'reserved-f1', newPayment('f1'), []),
      // Refused by the database: more captured than authorized.
      store.recordDecision('payment', 'reserved-f2', newPayment('f2', { capturedAmount: 9000 }), []),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
    expect((await store.orderPaymentState('order-f1')).payment).toMatchObject({ id: 'f1' });
    expect(await store.orderPaymentState('order-f2')).toMatchObject({ payment: null, intent: { token: 'tok_visa' } });
    // Its message is not recorded as handled: the redelivery is decided again.
    expect(await store.inOrderTransaction('order-f2', (tx) => tx.markProcessed('payment', 'reserved-f2'))).toBe(true);
  });

  /** Runs `change` in a transaction holding the order's lock, and commits once `commit` is called. */
  async function holdingOrder(orderId: string, change: (tx: Parameters<Parameters<PaymentStore['inOrderTransaction']>[1]>[0]) => Promise<void>) {
    let commit!: () => void;
    let changed!: () => void;
    const done = new Promise<void>((resolve) => (changed = resolve));
    const holder = store.inOrderTransaction(orderId, async (tx) => {
      await change(tx);
      changed();
      await new Promise<void>((resolve) => (commit = resolve));
    });
    await done;
    return { commit: async () => (commit(), holder) };
  }

  /** Whether `promise` is still pending after a moment. */
  async function stillWaiting(promise: Promise<unknown>): Promise<boolean> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    return !settled;
  }

  it(`waits for the order's lock, then sees what its holder committed: no token kept for a closed order (${backend})`, async () => {
    const held = await holdingOrder('order-k1', (tx) => tx.closeOrder('CANCELLED'));
    const accepting = store.acceptIntent('payment', 'placed-k1', newIntent('order-k1'));
    expect(await stillWaiting(accepting)).toBe(true);
    await held.commit();
    expect(await accepting).toBe(true);
    expect((await store.orderPaymentState('order-k1')).intent).toMatchObject({ amount: 2599, token: null });
  });

  it(`waits for the order's lock, then records no decision for an order its holder closed (${backend})`, async () => {
    await store.acceptIntent('payment', 'placed-k2', newIntent('order-k2'));
    const held = await holdingOrder('order-k2', (tx) => tx.closeOrder('CANCELLED'));
    const announced = [domainEvent('PaymentAuthorized', 'order-k2', { orderId: 'order-k2', paymentId: 'k2', amount: { amount: 2599, currency: 'USD' } })];
    const recording = store.recordDecision('payment', 'reserved-k2', newPayment('k2', { amount: 2599 }), announced);
    expect(await stillWaiting(recording)).toBe(true);
    await held.commit();
    expect(await recording).toBe('settled');
    expect(await store.orderPaymentState('order-k2')).toMatchObject({ payment: null, closure: { reason: 'CANCELLED' } });
    expect(await outboxTypes('order-k2')).toEqual([]);
    // The message was not recorded as handled: its redelivery is decided under the lock again.
    expect(await store.inOrderTransaction('order-k2', (tx) => tx.markProcessed('payment', 'reserved-k2'))).toBe(true);
  });

  it('records a message as processed once per consumer', async () => {
    const marks = await store.inOrderTransaction('order-m1', async (tx) => [
      await tx.markProcessed('payment', 'msg-1'),
      await tx.markProcessed('payment', 'msg-1'),
      await tx.markProcessed('other-group', 'msg-1'),
    ]);
    expect(marks).toEqual([true, false, true]);
    expect(await store.inOrderTransaction('order-m1', (tx) => tx.markProcessed('payment', 'msg-1'))).toBe(false);
  });

  it('closes an order once, keeping the first reason and forgetting its token', async () => {
    await store.acceptIntent('payment', 'placed-c1', newIntent('order-c1'));
    await store.inOrderTransaction('order-c1', (tx) => tx.closeOrder('CANCELLED'));
    await store.inOrderTransaction('order-c1', (tx) => tx.closeOrder('REJECTED'));
    const state = await store.orderPaymentState('order-c1');
    expect(state.closure).toMatchObject({ orderId: 'order-c1', reason: 'CANCELLED' });
    expect(state.intent?.token).toBeNull();
    // An order may be closed before its intent arrives.
    await store.inOrderTransaction('order-c2', (tx) => tx.closeOrder('REJECTED'));
    expect(await store.orderPaymentState('order-c2')).toMatchObject({ intent: null, closure: { reason: 'REJECTED' } });
  });

  it('forgets a token without touching the rest of the intent', async () => {
    await store.acceptIntent('payment', 'placed-t1', newIntent('order-t1'));
    await store.inOrderTransaction('order-t1', (tx) => tx.forgetToken());
    expect((await store.orderPaymentState('order-t1')).intent).toMatchObject({ amount: 2599, token: null });
  });

  it('commits payment, change, processed message and outbox events together', async () => {
    await store.inOrderTransaction('order-x1', async (tx) => {
      expect(await tx.markProcessed('payment', 'msg-x1')).toBe(true);
      const { payment } = await tx.createPayment(newPayment('x1', { orderId: 'order-x1' }));
      expect(await tx.updatePayment(payment.id, 'AUTHORIZED', { status: 'CAPTURED', capturedAmount: 5000 })).toMatchObject({ status: 'CAPTURED' });
      expect(await tx.updatePayment(payment.id, 'AUTHORIZED', { status: 'VOIDED' })).toEqual({ kind: 'status-conflict', current: 'CAPTURED' });
      await tx.enqueue([domainEvent('PaymentCaptured', 'order-x1', { orderId: 'order-x1', paymentId: 'x1', amount: { amount: 5000, currency: 'USD' } })]);
    });
    expect((await store.orderPaymentState('order-x1')).payment).toMatchObject({ status: 'CAPTURED', capturedAmount: 5000 });
    expect(await outboxTypes('order-x1')).toEqual(['PaymentCaptured']);
  });

  it('rolls everything back when the work throws', async () => {
    await expect(
      store.inOrderTransaction('order-r1', async (tx) => {
        await tx.markProcessed('payment', 'msg-r1');
        await tx.createPayment(newPayment('r1', { orderId: 'order-r1' }));
        await tx.closeOrder('CANCELLED');
        await tx.enqueue([domainEvent('PaymentVoided', 'order-r1', { orderId: 'order-r1', paymentId: 'r1' })]);
        throw new Error('crash before commit');
      }),
    ).rejects.toThrow('crash before commit');
    expect(await store.orderPaymentState('order-r1')).toEqual({ intent: null, payment: null, closure: null });
    expect(await outboxTypes('order-r1')).toEqual([]);
    expect(await store.inOrderTransaction('order-r1', (tx) => tx.markProcessed('payment', 'msg-r1'))).toBe(true);
  });

  it("refuses to write another order's payment inside an order's transaction", async () => {
    await expect(store.inOrderTransaction('order-w1', (tx) => tx.createPayment(newPayment('w2', { orderId: 'order-w2' })))).rejects.toThrow();
  });

  it(`lets transactions of one order take turns (${backend})`, async () => {
    // Each transaction closes the order only if it sees it open; with the order's lock exactly one sees it open.
    const sawOpen = await Promise.all(
      Array.from({ length: 12 }, () =>
        store.inOrderTransaction('order-l1', async (tx) => {
          const { closure } = await tx.state();
          if (closure) return false;
          await new Promise((resolve) => setTimeout(resolve, 5));
          await tx.closeOrder('CANCELLED');
          return true;
        }),
      ),
    );
    expect(sawOpen.filter(Boolean)).toHaveLength(1);
  });

  it('imports many payments in one transaction, skipping those that exist', async () => {
    const list = Array.from({ length: 2500 }, (_, i) => newPayment(`imp-${i}`, { status: 'CAPTURED', capturedAmount: 5000 }));
    expect(await store.importPayments(list)).toBe(2500);
    const placedAt = new Date('2023-05-06T07:08:09.123Z');
    const late = newPayment('imp-new', { createdAt: placedAt, providerReference: 'prov-new', methodBrand: 'Amex' });
    expect(await store.importPayments([...list.slice(0, 10), late])).toBe(1);
    expect(await store.paymentsByOrderIds(['order-imp-0', 'order-imp-2499', 'order-imp-new'])).toHaveLength(3);
    const [stored] = await store.paymentsByIds(['imp-new']);
    expect(stored).toMatchObject({ ...late, createdAt: placedAt, updatedAt: placedAt });
    expect((await store.paymentsByIds(['imp-7']))[0]).toMatchObject({ status: 'CAPTURED', providerReference: null, currency: 'USD' });
  });

  it('imports all or nothing', async () => {
    const list = [newPayment('atomic-1'), newPayment('atomic-2', { amount: -5 })];
    await expect(store.importPayments(list)).rejects.toThrow();
    expect(await store.paymentsByIds(['atomic-1'])).toEqual([]);
  });
}
