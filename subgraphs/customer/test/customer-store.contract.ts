import type { AddressRecord, CustomerRecord, CustomerStore, NewSession, StoredApiKey, StoredCustomer } from '../store/port';

function customer(id: string, overrides: Partial<StoredCustomer> = {}): StoredCustomer {
  return {
    id,
    email: `${id}@example.com`,
    name: `Customer ${id}`,
    scopes: ['customer'],
    addresses: [],
    createdAt: new Date('2024-03-01T10:00:00.000Z'),
    passwordHash: `$argon2id$fake-${id}`,
    ...overrides,
  };
}

function address(n: number): AddressRecord {
  return { id: `addr-${n}`, line1: `${n} Main St`, line2: null, city: 'Springfield', region: 'IL', postalCode: '62701', country: 'US' };
}

const DAY = 24 * 60 * 60 * 1000;
// Sessions date from the present, not a fixed day: a store may let its server delete sessions
// whose refresh token expired by the server's own clock (MongoDB's TTL index does).
const T0 = new Date(Date.now() + DAY);
const later = (ms: number) => new Date(T0.getTime() + ms);

function session(id: string, customerId: string, overrides: Partial<NewSession> = {}): NewSession {
  return {
    id,
    customerId,
    createdAt: T0,
    userAgent: `agent of ${id}`,
    refreshHash: `hash-${id}-0`,
    refreshExpiresAt: later(30 * DAY),
    ...overrides,
  };
}

function apiKey(id: string, overrides: Partial<StoredApiKey> = {}): StoredApiKey {
  return {
    id,
    name: `Partner ${id}`,
    prefix: `sk_live_${id}`,
    secretHash: `hash-of-${id}`,
    maximumAvailable: 1000,
    restoreRate: 50,
    createdAt: T0,
    lastUsedAt: null,
    revokedAt: null,
    ...overrides,
  };
}

/** What every CustomerStore adapter must do; run against each available adapter. */
export function customerStoreContract(open: () => Promise<{ store: CustomerStore; release(): Promise<void> }>) {
  let store: CustomerStore;
  let release: () => Promise<void>;

  beforeAll(async () => {
    ({ store, release } = await open());
  });
  afterAll(() => release());

  // First: every later test adds customers to this store.
  it('is empty until the first customer is added', async () => {
    expect(await store.isEmpty()).toBe(true);
    await store.insert(customer('first'));
    expect(await store.isEmpty()).toBe(false);
  });

  it('answers ready', async () => {
    expect(await store.ready()).toBe(true);
  });

  it('keeps a customer document whole and finds it by id without the password hash', async () => {
    const saved = customer('c1', {
      name: 'Ann Lee',
      scopes: ['customer', 'admin'],
      addresses: [address(1)],
      createdAt: new Date('2023-12-24T18:30:00.123Z'),
    });
    const inserted = await store.insert(saved);
    const { passwordHash: _hash, ...expected } = saved;
    expect(inserted).toEqual(expected);
    const [found] = await store.findByIds(['c1']);
    expect(found).toEqual(expected);
    expect(found).not.toHaveProperty('passwordHash');
    expect(found?.createdAt).toBeInstanceOf(Date);
  });

  it('finds many customers in one statement; unknown ids are absent', async () => {
    await store.insertMany([customer('m1'), customer('m2'), customer('m3')]);
    const before = store.statementCount();
    const found = await store.findByIds(['m3', 'nobody', 'm1', 'm2']);
    expect(store.statementCount() - before).toBe(1);
    expect(found.map((c) => c.id).sort()).toEqual(['m1', 'm2', 'm3']);
    expect(await store.findByIds([])).toEqual([]);
  });

  it('finds a customer by email whatever its case, with the password hash', async () => {
    await store.insert(customer('e1', { email: 'mixed@example.com' }));
    const found = await store.findByEmail('MiXeD@Example.COM');
    expect(found).toMatchObject({ id: 'e1', email: 'mixed@example.com', passwordHash: '$argon2id$fake-e1' });
    expect(await store.findByEmail('nobody@example.com')).toBeNull();
  });

  it('refuses a second customer with the same email in another case, or the same id', async () => {
    await store.insert(customer('d1', { email: 'dup@example.com' }));
    expect(await store.insert(customer('d2', { email: 'DUP@example.com' }))).toEqual({ kind: 'duplicate' });
    expect(await store.insert(customer('d1', { email: 'other@example.com' }))).toEqual({ kind: 'duplicate' });
    expect(await store.findByIds(['d2'])).toEqual([]);
    expect(await store.findByEmail('other@example.com')).toBeNull();
    expect((await store.findByIds(['d1']))[0]?.email).toBe('dup@example.com');
  });

  it('lets exactly one of concurrent sign-ups with the same email in different cases win', async () => {
    const emails = ['race@example.com', 'RACE@example.com', 'Race@Example.com', 'race@EXAMPLE.COM', 'rAcE@example.com'];
    const results = await Promise.all(emails.map((email, i) => store.insert(customer(`race-${i}`, { email }))));
    expect(results.filter((r) => 'kind' in r)).toEqual(Array.from({ length: emails.length - 1 }, () => ({ kind: 'duplicate' })));
    const winner = results.find((r): r is CustomerRecord => !('kind' in r));
    expect((await store.findByEmail('RACE@EXAMPLE.COM'))?.id).toBe(winner?.id);
    expect(await store.findByIds(emails.map((_, i) => `race-${i}`))).toHaveLength(1);
  });

  it('appends addresses in order and keeps the rest of the document', async () => {
    await store.insert(customer('a1', { addresses: [address(1)] }));
    expect(await store.addAddress('a1', address(2), 10)).toEqual(address(2));
    expect(await store.addAddress('a1', address(3), 10)).toEqual(address(3));
    const [found] = await store.findByIds(['a1']);
    expect(found?.addresses).toEqual([address(1), address(2), address(3)]);
    expect(found?.name).toBe('Customer a1');
    expect((await store.findByEmail('a1@example.com'))?.passwordHash).toBe('$argon2id$fake-a1');
  });

  it('refuses an address for an unknown customer or beyond the limit', async () => {
    expect(await store.addAddress('nobody', address(1), 10)).toEqual({ kind: 'not-found' });
    await store.insert(customer('a2', { addresses: [address(1), address(2)] }));
    expect(await store.addAddress('a2', address(3), 2)).toEqual({ kind: 'limit-reached', limit: 2 });
    expect((await store.findByIds(['a2']))[0]?.addresses).toHaveLength(2);
  });

  it('never exceeds the limit under concurrent appends', async () => {
    await store.insert(customer('a3'));
    const results = await Promise.all(Array.from({ length: 15 }, (_, i) => store.addAddress('a3', address(i), 10)));
    expect(results.filter((r) => 'kind' in r)).toHaveLength(5);
    const [found] = await store.findByIds(['a3']);
    expect(found?.addresses).toHaveLength(10);
    expect(new Set(found?.addresses.map((a) => a.id)).size).toBe(10);
  });

  it('adds many customers at once over several chunks, skipping ids and emails that exist', async () => {
    const many = Array.from({ length: 1200 }, (_, i) => customer(`bulk-${i}`));
    const added = await store.insertMany([...many, customer('c1'), customer('bulk-x', { email: 'DUP@example.com' })]);
    expect(added).toBe(1200);
    const found = await store.findByIds(many.map((c) => c.id));
    expect(found).toHaveLength(1200);
    expect((await store.findByIds(['c1']))[0]?.name).toBe('Ann Lee');
    expect(await store.findByIds(['bulk-x'])).toEqual([]);
    expect(await store.insertMany([])).toBe(0);
  });

  it('adds the first of customers sharing an email within one batch; a skipped one holds no email', async () => {
    const added = await store.insertMany([
      customer('batch-1', { email: 'twin@example.com' }),
      customer('batch-2', { email: 'TWIN@example.com' }),
      // Its id exists, so it is skipped, and its email stays free for the next one.
      customer('c1', { email: 'freed@example.com' }),
      customer('batch-3', { email: 'freed@example.com' }),
    ]);
    expect(added).toBe(2);
    expect((await store.findByEmail('twin@example.com'))?.id).toBe('batch-1');
    expect((await store.findByEmail('freed@example.com'))?.id).toBe('batch-3');
    expect(await store.findByIds(['batch-2'])).toEqual([]);
    expect((await store.findByIds(['c1']))[0]?.email).toBe('c1@example.com');
  });
  describe('sessions', () => {
    it('starts a session and lists it among the live ones, with what the device sent', async () => {
      await store.insert(customer('s1'));
      const started = await store.startSession(session('s1-a', 's1'));
      expect(started).toEqual({
        id: 's1-a',
        customerId: 's1',
        createdAt: T0,
        lastUsedAt: T0,
        userAgent: 'agent of s1-a',
        endedAt: null,
        refreshExpiresAt: later(30 * DAY),
      });
      expect(started).not.toHaveProperty('refreshHash');
      await store.startSession(session('s1-b', 's1', { createdAt: later(1000), userAgent: null }));
      const live = await store.activeSessions('s1', later(2000));
      expect(live.map((s) => s.id)).toEqual(['s1-a', 's1-b']);
      expect(live[1]!.userAgent).toBeNull();
      expect(await store.activeSessions('nobody', later(2000))).toEqual([]);
    });

    it('rotates the current refresh token once; the old one then counts as reuse and ends the session', async () => {
      await store.insert(customer('s2'));
      await store.startSession(session('s2-a', 's2'));
      const rotated = await store.rotateRefreshToken('hash-s2-a-0', { hash: 'hash-s2-a-1', expiresAt: later(31 * DAY) }, later(60_000));
      expect(rotated).toEqual({
        kind: 'rotated',
        session: expect.objectContaining({ id: 's2-a', lastUsedAt: later(60_000), refreshExpiresAt: later(31 * DAY), endedAt: null }),
      });
      const next = await store.rotateRefreshToken('hash-s2-a-1', { hash: 'hash-s2-a-2', expiresAt: later(32 * DAY) }, later(120_000));
      expect(next.kind).toBe('rotated');

      const reused = await store.rotateRefreshToken('hash-s2-a-0', { hash: 'hash-s2-a-x', expiresAt: later(32 * DAY) }, later(180_000));
      expect(reused).toEqual({ kind: 'reused', endedNow: true, session: expect.objectContaining({ id: 's2-a', endedAt: later(180_000) }) });
      // The current token of an ended session works no more.
      expect(await store.rotateRefreshToken('hash-s2-a-2', { hash: 'hash-s2-a-3', expiresAt: later(32 * DAY) }, later(200_000))).toEqual({
        kind: 'inactive',
      });
      const again = await store.rotateRefreshToken('hash-s2-a-1', { hash: 'hash-s2-a-y', expiresAt: later(32 * DAY) }, later(240_000));
      expect(again).toMatchObject({ kind: 'reused', endedNow: false, session: { endedAt: later(180_000) } });
      expect(await store.activeSessions('s2', later(240_000))).toEqual([]);
    });

    it('refuses an unknown token and the token of an expired session', async () => {
      expect(await store.rotateRefreshToken('no-such-hash', { hash: 'h', expiresAt: later(DAY) }, T0)).toEqual({ kind: 'unknown' });
      await store.insert(customer('s3'));
      await store.startSession(session('s3-a', 's3', { refreshExpiresAt: later(DAY) }));
      expect(await store.rotateRefreshToken('hash-s3-a-0', { hash: 'hash-s3-a-1', expiresAt: later(3 * DAY) }, later(2 * DAY))).toEqual({
        kind: 'inactive',
      });
      expect(await store.activeSessions('s3', later(2 * DAY))).toEqual([]);
      expect((await store.activeSessions('s3', later(DAY - 1))).map((s) => s.id)).toEqual(['s3-a']);
    });

    it('lets exactly one of concurrent rotations of the same token win', async () => {
      await store.insert(customer('s4'));
      await store.startSession(session('s4-a', 's4'));
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, (_, i) => store.rotateRefreshToken('hash-s4-a-0', { hash: `hash-s4-a-next-${i}`, expiresAt: later(DAY) }, later(1000))),
      );
      expect(outcomes.filter((o) => o.kind === 'rotated')).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'reused')).toHaveLength(4);
    });

    it("ends one of a customer's sessions only for that customer, once", async () => {
      await store.insert(customer('s5'));
      await store.insert(customer('s5-other'));
      await store.startSession(session('s5-a', 's5'));
      await store.startSession(session('s5-b', 's5'));
      expect(await store.endSession('s5-other', 's5-a', later(1000))).toBe(false);
      expect(await store.endSession('s5', 's5-a', later(1000))).toBe(true);
      expect(await store.endSession('s5', 's5-a', later(2000))).toBe(false);
      expect((await store.activeSessions('s5', later(3000))).map((s) => s.id)).toEqual(['s5-b']);
      expect(await store.rotateRefreshToken('hash-s5-a-0', { hash: 'x5', expiresAt: later(DAY) }, later(3000))).toEqual({ kind: 'inactive' });
    });

    it('ends every live session of a customer and says which', async () => {
      await store.insert(customer('s6'));
      for (const id of ['s6-a', 's6-b', 's6-c']) await store.startSession(session(id, 's6'));
      await store.endSession('s6', 's6-c', later(1000));
      expect((await store.endCustomerSessions('s6', later(2000))).sort()).toEqual(['s6-a', 's6-b']);
      expect(await store.endCustomerSessions('s6', later(3000))).toEqual([]);
      expect(await store.activeSessions('s6', later(3000))).toEqual([]);
    });

    it('changes a password and ends every other session in one go', async () => {
      await store.insert(customer('s7'));
      for (const id of ['s7-a', 's7-b', 's7-c']) await store.startSession(session(id, 's7'));
      const changed = await store.changePassword('s7', '$argon2id$new-s7', later(1000), 's7-b');
      expect(changed).toEqual({ endedSessionIds: expect.arrayContaining(['s7-a', 's7-c']) });
      expect((changed as { endedSessionIds: string[] }).endedSessionIds).toHaveLength(2);
      expect((await store.activeSessions('s7', later(2000))).map((s) => s.id)).toEqual(['s7-b']);
      expect(await store.findCredentials('s7')).toMatchObject({ id: 's7', email: 's7@example.com', passwordHash: '$argon2id$new-s7' });
      expect((await store.findByEmail('s7@example.com'))?.passwordHash).toBe('$argon2id$new-s7');
      expect(await store.changePassword('nobody', 'x', later(1000))).toEqual({ kind: 'not-found' });
      expect(await store.findCredentials('nobody')).toBeNull();
    });

    it('tells which sessions ended recently, and deletes expired and long-ended ones', async () => {
      await store.insert(customer('s8'));
      await store.startSession(session('s8-live', 's8'));
      await store.startSession(session('s8-expired', 's8', { refreshExpiresAt: later(DAY) }));
      await store.startSession(session('s8-ended-long-ago', 's8'));
      await store.startSession(session('s8-ended-now', 's8'));
      await store.endSession('s8', 's8-ended-long-ago', later(1000));
      await store.rotateRefreshToken('hash-s8-ended-now-0', { hash: 'hash-s8-ended-now-1', expiresAt: later(30 * DAY) }, later(2000));
      await store.endSession('s8', 's8-ended-now', later(5 * DAY));

      const recent = await store.sessionsEndedSince(later(4 * DAY));
      expect(recent.filter((s) => s.id.startsWith('s8-'))).toEqual([{ id: 's8-ended-now', endedAt: later(5 * DAY) }]);

      const deleted = await store.deleteStaleSessions(later(5 * DAY), later(4 * DAY));
      expect(deleted).toBeGreaterThanOrEqual(2);
      const left = await store.sessionsEndedSince(new Date(0));
      expect(left.map((s) => s.id)).toContain('s8-ended-now');
      expect(left.map((s) => s.id)).not.toContain('s8-ended-long-ago');
      expect((await store.activeSessions('s8', later(5 * DAY))).map((s) => s.id)).toEqual(['s8-live']);
      // Its retired tokens went with the deleted session: reuse of one is now merely unknown.
      expect(await store.rotateRefreshToken('hash-s8-expired-0', { hash: 'y', expiresAt: later(40 * DAY) }, later(5 * DAY))).toEqual({
        kind: 'unknown',
      });
    });
  });
  describe('API keys', () => {
    it('keeps a key without showing its hash, lists keys newest first and the active ones with their hashes', async () => {
      const created = await store.createApiKey(apiKey('k1'));
      expect(created).toEqual({
        id: 'k1',
        name: 'Partner k1',
        prefix: 'sk_live_k1',
        maximumAvailable: 1000,
        restoreRate: 50,
        createdAt: T0,
        lastUsedAt: null,
        revokedAt: null,
      });
      expect(created).not.toHaveProperty('secretHash');
      await store.createApiKey(apiKey('k2', { createdAt: later(1000), maximumAvailable: 40, restoreRate: 2 }));
      expect((await store.listApiKeys()).map((k) => k.id)).toEqual(['k2', 'k1']);
      const active = await store.activeApiKeys();
      expect(active.find((k) => k.id === 'k2')).toMatchObject({ secretHash: 'hash-of-k2', maximumAvailable: 40, restoreRate: 2 });
    });

    it('revokes a key once: it leaves the active ones and keeps its first revocation time', async () => {
      await store.createApiKey(apiKey('k3'));
      expect(await store.revokeApiKey('k3', later(5000))).toMatchObject({ id: 'k3', revokedAt: later(5000) });
      expect(await store.revokeApiKey('k3', later(9000))).toMatchObject({ revokedAt: later(5000) });
      expect((await store.activeApiKeys()).map((k) => k.id)).not.toContain('k3');
      expect(await store.revokeApiKey('no-such-key', later(5000))).toBeNull();
    });

    it('records when keys were used in one statement, never going back in time', async () => {
      await store.createApiKey(apiKey('k4'));
      await store.createApiKey(apiKey('k5'));
      const before = store.statementCount();
      await store.recordApiKeyUse([
        { id: 'k4', at: later(2000) },
        { id: 'k5', at: later(3000) },
        { id: 'unknown', at: later(3000) },
      ]);
      expect(store.statementCount() - before).toBe(1);
      await store.recordApiKeyUse([{ id: 'k4', at: later(1000) }]);
      await store.recordApiKeyUse([]);
      const keys = await store.listApiKeys();
      expect(keys.find((k) => k.id === 'k4')?.lastUsedAt).toEqual(later(2000));
      expect(keys.find((k) => k.id === 'k5')?.lastUsedAt).toEqual(later(3000));
    });
  });
}
