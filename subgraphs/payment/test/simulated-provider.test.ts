import { sql } from 'drizzle-orm';
import type { Database } from '../../../platform/db';
import { openSubgraphDatabase } from '../../../platform/subgraph';
import { storeBackends, testDeps, type TestDeps } from '../../../platform/testing';
import { ProviderRefusedError, TransientProviderError } from '../provider/port';
import {
  SIMULATED_PROCESSOR_MIGRATIONS,
  SIMULATED_PROCESSOR_SCHEMA,
  SIMULATED_TEST_TOKENS,
  SimulatedCardProcessor,
  type SimulatedCardProcessorOptions,
} from '../provider/simulated';

const usd = (amount: number) => ({ amount, currency: 'USD' });

describe.each(storeBackends())('simulated card processor on %s', (backend) => {
  let deps: TestDeps;
  let database: Database;
  const openLedger = () =>
    openSubgraphDatabase(deps, 'payment', { schema: SIMULATED_PROCESSOR_SCHEMA, migrationsFolder: SIMULATED_PROCESSOR_MIGRATIONS });
  const newProcessor = (options?: SimulatedCardProcessorOptions) => new SimulatedCardProcessor(database, options);

  beforeAll(async () => {
    deps = await testDeps(backend, ['payment']);
    database = await openLedger();
  });
  afterAll(async () => {
    await database?.close();
    await deps?.release();
  });
  // Each test starts from an empty ledger, as a fresh processor account would.
  beforeEach(() => database.rows(sql`truncate card_processor.ledger, card_processor.requests, card_processor.charges`));

  it('remembers its charges across a restart: a capture after it finds the authorization made before', async () => {
    const authorized = await newProcessor().authorize(usd(1200), 'tok_visa', 'authorize:o1');
    if (authorized.kind !== 'authorized') throw new Error('expected an authorization');
    // The payment subgraph restarts: its connections close and a new processor opens the same storage.
    await database.close();
    database = await openLedger();
    const restarted = newProcessor();
    expect(await restarted.authorize(usd(1200), 'tok_visa', 'authorize:o1')).toEqual(authorized);
    expect(await restarted.capture(authorized.reference, usd(1200), 'capture:o1')).toEqual({ reference: authorized.reference });
    expect((await restarted.ledger()).map((e) => [e.operation, e.outcome])).toEqual([
      ['authorize', 'approved'],
      ['capture', 'approved'],
    ]);
  });

  it('lets one of two concurrent captures of a charge with different keys win', async () => {
    const processor = newProcessor({ latencyMs: 5 });
    const authorized = await processor.authorize(usd(700), 'tok_visa', 'authorize:o1');
    if (authorized.kind !== 'authorized') throw new Error('expected an authorization');
    const results = await Promise.allSettled([
      processor.capture(authorized.reference, usd(700), 'capture:a'),
      processor.capture(authorized.reference, usd(700), 'capture:b'),
      processor.void(authorized.reference, 'void:c'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await processor.ledger()).filter((e) => e.operation !== 'authorize')).toHaveLength(1);
  });

  it.each([
    ['tok_visa', 'visa', '4242'],
    ['tok_mastercard', 'mastercard', '4444'],
  ])('%s authorizes, naming the card %s %s', async (token, brand, last4) => {
    const processor = newProcessor();
    const result = await processor.authorize(usd(2599), token, 'authorize:o1');
    expect(result).toEqual({ kind: 'authorized', reference: expect.stringMatching(/^ch_sim_[0-9a-f]{24}$/), brand, last4 });
    expect(await processor.ledger()).toEqual([
      expect.objectContaining({ operation: 'authorize', outcome: 'approved', amount: usd(2599), idempotencyKey: 'authorize:o1' }),
    ]);
  });

  it.each([
    ['tok_chargeDeclined', 'card_declined'],
    ['tok_insufficientFunds', 'insufficient_funds'],
    ['tok_unknown', 'invalid_token'],
    ['', 'invalid_token'],
    ['4242424242424242', 'invalid_token'],
  ])('%s declines with %s, holding nothing', async (token, code) => {
    const processor = newProcessor();
    expect(await processor.authorize(usd(100), token, 'authorize:o1')).toEqual({ kind: 'declined', code });
    expect(await processor.ledger()).toEqual([expect.objectContaining({ operation: 'authorize', outcome: 'declined', reference: null, declineCode: code })]);
  });

  it('does not take prototype names for tokens', async () => {
    expect(await newProcessor().authorize(usd(100), 'toString', 'k')).toEqual({ kind: 'declined', code: 'invalid_token' });
  });

  it('documents every token it knows', () => {
    expect(Object.keys(SIMULATED_TEST_TOKENS).sort()).toEqual(
      ['tok_chargeDeclined', 'tok_insufficientFunds', 'tok_mastercard', 'tok_processingError', 'tok_visa'].sort(),
    );
  });

  it('tok_processingError fails transiently twice per idempotency key, then authorizes', async () => {
    const processor = newProcessor();
    await expect(processor.authorize(usd(500), 'tok_processingError', 'authorize:o1')).rejects.toBeInstanceOf(TransientProviderError);
    await expect(processor.authorize(usd(500), 'tok_processingError', 'authorize:o1')).rejects.toBeInstanceOf(TransientProviderError);
    // Another key counts its own attempts.
    await expect(processor.authorize(usd(500), 'tok_processingError', 'authorize:o2')).rejects.toBeInstanceOf(TransientProviderError);
    const third = await processor.authorize(usd(500), 'tok_processingError', 'authorize:o1');
    expect(third).toMatchObject({ kind: 'authorized', brand: 'visa', last4: '0119' });
    expect(await processor.authorize(usd(500), 'tok_processingError', 'authorize:o1')).toEqual(third);
    expect(await processor.attemptsOf('authorize:o1')).toBe(3);
    expect((await processor.ledger()).filter((e) => e.outcome === 'approved')).toHaveLength(1);
  });

  it('fails as often as it is told to', async () => {
    const processor = newProcessor({ transientFailures: 0 });
    expect(await processor.authorize(usd(500), 'tok_processingError', 'k')).toMatchObject({ kind: 'authorized' });
  });

  it('answers a repeated idempotency key with the first answer and never charges twice', async () => {
    const processor = newProcessor();
    const first = await processor.authorize(usd(2599), 'tok_visa', 'authorize:o1');
    const again = await processor.authorize(usd(2599), 'tok_visa', 'authorize:o1');
    expect(again).toEqual(first);
    const declined = await processor.authorize(usd(10), 'tok_chargeDeclined', 'authorize:o2');
    expect(await processor.authorize(usd(10), 'tok_chargeDeclined', 'authorize:o2')).toEqual(declined);
    expect(await processor.ledger()).toHaveLength(2);
    expect(await processor.attemptsOf('authorize:o1')).toBe(1);
  });

  it('shares one answer among concurrent calls with one key', async () => {
    const processor = newProcessor({ latencyMs: 20 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => processor.authorize(usd(2599), 'tok_visa', 'authorize:o1')));
    expect(new Set(answers.map((a) => (a.kind === 'authorized' ? a.reference : a.code))).size).toBe(1);
    expect(await processor.ledger()).toHaveLength(1);
  });

  it('a new key is a new authorization', async () => {
    const processor = newProcessor();
    const a = await processor.authorize(usd(100), 'tok_visa', 'k1');
    const b = await processor.authorize(usd(100), 'tok_visa', 'k2');
    expect(a).not.toEqual(b);
    expect((await processor.ledger()).filter((e) => e.operation === 'authorize')).toHaveLength(2);
  });

  it('refuses a key reused for a different request', async () => {
    const processor = newProcessor();
    await processor.authorize(usd(100), 'tok_visa', 'k1');
    await expect(processor.authorize(usd(200), 'tok_visa', 'k1')).rejects.toMatchObject({ code: 'idempotency_key_reused' });
    await expect(processor.authorize(usd(100), 'tok_mastercard', 'k1')).rejects.toBeInstanceOf(ProviderRefusedError);
    expect(await processor.ledger()).toHaveLength(1);
  });

  it('declines an amount that is not whole minor units', async () => {
    const processor = newProcessor();
    expect(await processor.authorize(usd(10.5), 'tok_visa', 'k1')).toEqual({ kind: 'declined', code: 'invalid_amount' });
    expect(await processor.authorize(usd(-1), 'tok_visa', 'k2')).toEqual({ kind: 'declined', code: 'invalid_amount' });
  });

  it('answers an authorization with one statement and no transaction; a replay costs a read more', async () => {
    const processor = newProcessor();
    const cost = async (work: () => Promise<unknown>) => {
      const transactions = jest.spyOn(database.db, 'transaction');
      const before = database.stats.statements;
      try {
        await work().catch(() => undefined);
        return { statements: database.stats.statements - before, transactions: transactions.mock.calls.length };
      } finally {
        transactions.mockRestore();
      }
    };
    // The key's row, the charge and the ledger entry in one statement.
    expect(await cost(() => processor.authorize(usd(2599), 'tok_visa', 'authorize:o1'))).toEqual({ statements: 1, transactions: 0 });
    expect(await cost(() => processor.authorize(usd(100), 'tok_chargeDeclined', 'authorize:o2'))).toEqual({ statements: 1, transactions: 0 });
    // The claim finds the key taken, and a read finds its answer.
    expect(await cost(() => processor.authorize(usd(2599), 'tok_visa', 'authorize:o1'))).toEqual({ statements: 2, transactions: 0 });
    // A transient failure keeps only the attempt; the retry reads it and moves the key on.
    expect(await cost(() => processor.authorize(usd(500), 'tok_processingError', 'authorize:o3'))).toEqual({ statements: 1, transactions: 0 });
    expect(await cost(() => processor.authorize(usd(500), 'tok_processingError', 'authorize:o3'))).toEqual({ statements: 3, transactions: 0 });
    // A capture holds its key and the charge: the claim, the charge, its change, and the answer with its ledger entry.
    const authorized = await processor.authorize(usd(700), 'tok_visa', 'authorize:o4');
    if (authorized.kind !== 'authorized') throw new Error('expected an authorization');
    expect(await cost(() => processor.capture(authorized.reference, usd(700), 'capture:o4'))).toEqual({ statements: 4, transactions: 1 });
    expect(await cost(() => processor.capture(authorized.reference, usd(700), 'capture:o4'))).toEqual({ statements: 1, transactions: 1 });
  });

  it('answers concurrent retries of a key after a transient failure once, charging once', async () => {
    const processor = newProcessor({ transientFailures: 1 });
    await expect(processor.authorize(usd(500), 'tok_processingError', 'authorize:o1')).rejects.toBeInstanceOf(TransientProviderError);
    const answers = await Promise.all(Array.from({ length: 10 }, () => processor.authorize(usd(500), 'tok_processingError', 'authorize:o1')));
    expect(new Set(answers.map((a) => (a.kind === 'authorized' ? a.reference : a.code))).size).toBe(1);
    expect(await processor.attemptsOf('authorize:o1')).toBe(2);
    expect(await processor.ledger()).toHaveLength(1);
  });

  describe('after an authorization', () => {
    let processor: SimulatedCardProcessor;
    let reference: string;

    beforeEach(async () => {
      processor = newProcessor();
      const result = await processor.authorize(usd(1000), 'tok_visa', 'authorize:o1');
      if (result.kind !== 'authorized') throw new Error('expected an authorization');
      reference = result.reference;
    });

    it('captures once, at most the authorized amount, idempotently', async () => {
      await expect(processor.capture(reference, usd(1001), 'capture:too-much')).rejects.toMatchObject({ code: 'amount_too_large' });
      await expect(processor.capture(reference, { amount: 1000, currency: 'EUR' }, 'capture:eur')).rejects.toMatchObject({ code: 'amount_too_large' });
      expect(await processor.capture(reference, usd(1000), 'capture:o1')).toEqual({ reference });
      expect(await processor.capture(reference, usd(1000), 'capture:o1')).toEqual({ reference });
      await expect(processor.capture(reference, usd(1000), 'capture:other-key')).rejects.toMatchObject({ code: 'charge_already_captured' });
      expect((await processor.ledger()).filter((e) => e.operation === 'capture')).toEqual([
        expect.objectContaining({ outcome: 'approved', reference, amount: usd(1000), idempotencyKey: 'capture:o1' }),
      ]);
    });

    it('voids an uncaptured authorization once; a voided one cannot be captured', async () => {
      expect(await processor.void(reference, 'void:o1')).toEqual({ reference });
      expect(await processor.void(reference, 'void:o1')).toEqual({ reference });
      await expect(processor.void(reference, 'void:again')).rejects.toMatchObject({ code: 'charge_voided' });
      await expect(processor.capture(reference, usd(1000), 'capture:o1')).rejects.toMatchObject({ code: 'charge_voided' });
      expect((await processor.ledger()).map((e) => e.operation)).toEqual(['authorize', 'void']);
    });

    it('refuses to void a captured charge', async () => {
      await processor.capture(reference, usd(1000), 'capture:o1');
      await expect(processor.void(reference, 'void:o1')).rejects.toMatchObject({ code: 'charge_already_captured' });
    });

    it('refunds only what was captured, idempotently', async () => {
      await expect(processor.refund(reference, usd(100), 'refund:early')).rejects.toMatchObject({ code: 'charge_not_captured' });
      await processor.capture(reference, usd(800), 'capture:o1');
      await expect(processor.refund(reference, usd(801), 'refund:too-much')).rejects.toMatchObject({ code: 'amount_too_large' });
      expect(await processor.refund(reference, usd(500), 'refund:o1')).toEqual({ reference });
      expect(await processor.refund(reference, usd(500), 'refund:o1')).toEqual({ reference });
      await expect(processor.refund(reference, usd(301), 'refund:o1-more')).rejects.toMatchObject({ code: 'amount_too_large' });
      expect(await processor.refund(reference, usd(300), 'refund:o1-rest')).toEqual({ reference });
      expect((await processor.ledger()).filter((e) => e.operation === 'refund').map((e) => e.amount)).toEqual([usd(500), usd(300)]);
    });

    it('knows no other charge', async () => {
      await expect(processor.capture('ch_sim_nope', usd(1), 'k')).rejects.toMatchObject({ code: 'no_such_charge' });
      await expect(processor.void('ch_sim_nope', 'k2')).rejects.toMatchObject({ code: 'no_such_charge' });
      await expect(processor.refund('ch_sim_nope', usd(1), 'k3')).rejects.toMatchObject({ code: 'no_such_charge' });
    });
  });
});
