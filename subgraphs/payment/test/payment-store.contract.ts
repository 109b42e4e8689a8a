import type { NewPayment, PaymentStore } from '../store/port';

function newPayment(id: string, overrides: Partial<NewPayment> = {}): NewPayment {
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

/** What every PaymentStore adapter must do; run against each available adapter. */
export function paymentStoreContract(open: () => Promise<{ store: PaymentStore; release(): Promise<void> }>) {
  let store: PaymentStore;
  let release: () => Promise<void>;

  beforeAll(async () => {
    ({ store, release } = await open());
  });
  afterAll(() => release());

  it('answers ready and starts empty', async () => {
    expect(await store.ready()).toBe(true);
    expect(await store.hasPayments()).toBe(false);
  });

  it('creates a payment and returns it as stored', async () => {
    const { payment, created } = await store.createPayment(newPayment('p1', { createdAt: new Date('2024-01-02T03:04:05Z') }));
    expect(created).toBe(true);
    expect(payment).toMatchObject({ id: 'p1', orderId: 'order-p1', status: 'AUTHORIZED', amount: 5000, currency: 'USD', methodLast4: '4242' });
    expect(payment.createdAt.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(await store.hasPayments()).toBe(true);
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
