import type { AddressRecord, CustomerStore, StoredCustomer } from '../store/port';

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
}
