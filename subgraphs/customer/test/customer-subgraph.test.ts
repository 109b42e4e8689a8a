import type { RunningService } from '../../../platform/server';
import { serveTestSubgraph, type GraphQLResponse, type TestDeps } from '../../../platform/testing';
import { argon2idHasher, type PasswordHasher } from '../password-hasher';
import type { CustomerStore, StoredCustomer } from '../store/port';
import { customerSubgraph } from '../subgraph';
import { customerBackends, customerTestStore } from './backends';

type Served = RunningService & {
  query: <T = Record<string, any>>(q: string, v?: Record<string, unknown>, auth?: string) => Promise<GraphQLResponse<T>>;
};

const REGISTER = /* GraphQL */ `
  mutation Register($input: RegisterInput!) {
    register(input: $input) { accessToken expiresAt customer { id email name addresses { id } createdAt } }
  }
`;
const LOGIN = /* GraphQL */ `
  mutation Login($input: LoginInput!) {
    login(input: $input) { accessToken expiresAt customer { id email } }
  }
`;
const ME = /* GraphQL */ `
  query { me { id email name createdAt addresses { id line1 line2 city region postalCode country } } }
`;
const ADD_ADDRESS = /* GraphQL */ `
  mutation Add($input: AddressInput!) {
    addAddress(input: $input) { id line1 line2 city region postalCode country }
  }
`;
const ENTITIES = /* GraphQL */ `
  query Entities($representations: [_Any!]!) {
    _entities(representations: $representations) { ... on Customer { id name } }
  }
`;
const ENTITY_EMAILS = /* GraphQL */ `
  query Entities($representations: [_Any!]!) {
    _entities(representations: $representations) { ... on Customer { id email addresses { id } } }
  }
`;

const ENTITY_ADDRESSES = /* GraphQL */ `
  query Entities($representations: [_Any!]!) {
    _entities(representations: $representations) { ... on Customer { id name addresses { id } } }
  }
`;

const address = { line1: '1 Main St', city: 'Springfield', postalCode: '62701', country: 'US' };
const refs = (ids: string[]) => ({ representations: ids.map((id) => ({ __typename: 'Customer', id })) });
const codeOf = (response: GraphQLResponse) => response.errors?.[0]?.extensions?.code;

function seeded(id: string, overrides: Partial<StoredCustomer> = {}): StoredCustomer {
  return {
    id,
    email: `${id}@example.com`,
    name: `Name of ${id}`,
    scopes: ['customer'],
    addresses: [{ id: `${id}-home`, line1: '9 Elm St', line2: null, city: 'Utrecht', region: null, postalCode: '3511', country: 'NL' }],
    createdAt: new Date('2024-01-02T03:04:05.000Z'),
    passwordHash: 'not-a-hash',
    ...overrides,
  };
}

describe.each(customerBackends())('customer subgraph over HTTP on %s', (backend) => {
  let deps: TestDeps;
  let store: CustomerStore;
  let server: Served;
  const verifications: string[] = [];

  beforeAll(async () => {
    ({ deps, store } = await customerTestStore(backend));
    const argon2 = argon2idHasher();
    // Records which hashes a sign-in checks, to show an unknown email costs a verify too.
    const hasher: PasswordHasher = {
      hash: (password) => argon2.hash(password),
      verify: (hashed, password) => {
        verifications.push(hashed);
        return argon2.verify(hashed, password);
      },
    };
    server = await serveTestSubgraph(customerSubgraph(store, deps, hasher), deps);
    await store.insertMany(Array.from({ length: 30 }, (_, i) => seeded(`c${String(i).padStart(2, '0')}`)));
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  async function register(email: string, name = 'Ann Lee', password = 'correct horse battery') {
    return server.query(REGISTER, { input: { email, password, name } });
  }

  it('registers a customer whose token signs them in for `me`', async () => {
    const registered = await register('  Ann@Example.com ');
    expect(registered.errors).toBeUndefined();
    const payload = registered.data!.register;
    expect(payload.customer).toMatchObject({ email: 'ann@example.com', name: 'Ann Lee', addresses: [] });
    expect(new Date(payload.customer.createdAt).toISOString()).toBe(payload.customer.createdAt);
    expect(Date.parse(payload.expiresAt)).toBeGreaterThan(Date.now());

    const me = await server.query(ME, {}, `Bearer ${payload.accessToken}`);
    expect(me.errors).toBeUndefined();
    expect(me.data!.me).toMatchObject({ id: payload.customer.id, email: 'ann@example.com', name: 'Ann Lee', addresses: [] });
  });

  it('gives new customers the customer scope only', async () => {
    const { data } = await register('scopes@example.com');
    const viewer = await deps.tokens.viewerFromAuthorization(`Bearer ${data!.register.accessToken}`);
    expect(viewer).toEqual({
      kind: 'customer',
      customerId: data!.register.customer.id,
      scopes: ['customer'],
      expiresAt: expect.any(Date),
      sessionId: expect.any(String),
    });
  });

  it('refuses an email that is already registered, in any case', async () => {
    await register('taken@example.com');
    const again = await register('TAKEN@example.com', 'Someone Else');
    expect(codeOf(again)).toBe('EMAIL_ALREADY_REGISTERED');
    expect(again.data).toBeNull();
  });

  it('refuses invalid sign-up input, naming the field', async () => {
    const short = await register('short@example.com', 'Ann', 'too-short');
    expect(codeOf(short)).toBe('BAD_USER_INPUT');
    expect(short.errors?.[0]?.extensions?.field).toBe('password');
    const badEmail = await register('not-an-email');
    expect(badEmail.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'email' });
  });

  it('signs in with the right password, whatever the email case', async () => {
    const { data } = await register('login@example.com', 'Lou', 'the right password');
    const login = await server.query(LOGIN, { input: { email: 'LOGIN@example.com ', password: 'the right password' } });
    expect(login.errors).toBeUndefined();
    expect(login.data!.login.customer).toEqual({ id: data!.register.customer.id, email: 'login@example.com' });
    const me = await server.query(ME, {}, `Bearer ${login.data!.login.accessToken}`);
    expect(me.data!.me.id).toBe(data!.register.customer.id);
  });

  it('answers a wrong password and an unknown email alike, after checking a hash either way', async () => {
    await register('wrong@example.com', 'Wes', 'the right password');
    verifications.length = 0;
    const wrongPassword = await server.query(LOGIN, { input: { email: 'wrong@example.com', password: 'a wrong password' } });
    const unknownEmail = await server.query(LOGIN, { input: { email: 'nobody@example.com', password: 'the right password' } });
    for (const response of [wrongPassword, unknownEmail]) {
      expect(response.errors?.[0]).toMatchObject({ message: 'Email or password is wrong.', extensions: { code: 'UNAUTHENTICATED' } });
      expect(response.data).toBeNull();
    }
    expect(verifications).toHaveLength(2);
    expect(verifications.every((h) => h.startsWith('$argon2id$v=19$m=19456,t=2,p=1$'))).toBe(true);
  });

  it('stores each password with its own salt and the OWASP argon2id parameters', async () => {
    await register('salt-1@example.com', 'S', 'same password here');
    await register('salt-2@example.com', 'S', 'same password here');
    const [one, two] = await Promise.all([store.findByEmail('salt-1@example.com'), store.findByEmail('salt-2@example.com')]);
    expect(one!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(one!.passwordHash).not.toBe(two!.passwordHash);
    expect(one!.passwordHash).not.toContain('same password here');
  });

  it('adds an address for the signed-in customer, with the country upper-cased', async () => {
    const { data } = await register('address@example.com');
    const auth = `Bearer ${data!.register.accessToken}`;
    const added = await server.query(ADD_ADDRESS, { input: { ...address, country: 'de', line2: ' ', region: 'Berlin' } }, auth);
    expect(added.errors).toBeUndefined();
    expect(added.data!.addAddress).toMatchObject({ ...address, country: 'DE', line2: null, region: 'Berlin' });
    const me = await server.query(ME, {}, auth);
    expect(me.data!.me.addresses).toEqual([added.data!.addAddress]);
  });

  it('refuses an address in a country that does not exist', async () => {
    const { data } = await register('bad-country@example.com');
    const auth = `Bearer ${data!.register.accessToken}`;
    const added = await server.query(ADD_ADDRESS, { input: { ...address, country: 'XX' } }, auth);
    expect(added.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'country' });
    expect((await server.query(ME, {}, auth)).data!.me.addresses).toEqual([]);
  });

  it('keeps at most 10 addresses per customer', async () => {
    const { data } = await register('ten@example.com');
    const auth = `Bearer ${data!.register.accessToken}`;
    for (let i = 0; i < 10; i += 1) {
      expect((await server.query(ADD_ADDRESS, { input: { ...address, line1: `${i} Main St` } }, auth)).errors).toBeUndefined();
    }
    const eleventh = await server.query(ADD_ADDRESS, { input: address }, auth);
    expect(codeOf(eleventh)).toBe('CONFLICT');
    expect((await server.query(ME, {}, auth)).data!.me.addresses).toHaveLength(10);
  });

  it('needs a valid token for `me` and `addAddress`', async () => {
    const anonymous = await server.query(ME);
    expect(codeOf(anonymous)).toBe('UNAUTHENTICATED');
    expect(anonymous.data).toEqual({ me: null });

    const forged = await server.query(ME, {}, 'Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjMDAifQ.c2lnbmF0dXJl');
    expect(forged.errors?.[0]).toMatchObject({ message: 'The access token is not valid.', extensions: { code: 'UNAUTHENTICATED' } });

    const malformed = await server.query(ME, {}, 'Token abc');
    expect(codeOf(malformed)).toBe('UNAUTHENTICATED');

    expect(codeOf(await server.query(ADD_ADDRESS, { input: address }))).toBe('UNAUTHENTICATED');
  });

  it('answers `me` with null when the account no longer exists', async () => {
    const me = await server.query(ME, {}, await deps.bearer('deleted-customer'));
    expect(me.errors).toBeUndefined();
    expect(me.data).toEqual({ me: null });
  });

  it('resolves 30 customer references in one statement, in order, unknown ids as null', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `c${String(29 - i).padStart(2, '0')}`);
    const before = store.statementCount();
    const response = await server.query(ENTITIES, refs([...ids, 'nobody']));
    expect(store.statementCount() - before).toBe(1);
    expect(response.errors).toBeUndefined();
    expect(response.data!._entities).toEqual([...ids.map((id) => ({ id, name: `Name of ${id}` })), null]);
  });

  it('hides email and addresses of other customers, and shows them to the customer and to admins', async () => {
    const other = await server.query(ENTITY_EMAILS, refs(['c01']), await deps.bearer('c02'));
    expect(codeOf(other)).toBe('FORBIDDEN');
    expect(other.errors?.[0]?.path).toEqual(['_entities', 0, 'email']);
    expect(other.data!._entities).toEqual([null]);

    const addresses = await server.query(ENTITY_ADDRESSES, refs(['c01']), await deps.bearer('c02'));
    expect(addresses.errors?.[0]).toMatchObject({ path: ['_entities', 0, 'addresses'], extensions: { code: 'FORBIDDEN' } });

    const anonymous = await server.query(ENTITY_EMAILS, refs(['c01']));
    expect(codeOf(anonymous)).toBe('UNAUTHENTICATED');

    const own = await server.query(ENTITY_EMAILS, refs(['c01']), await deps.bearer('c01'));
    expect(own.errors).toBeUndefined();
    expect(own.data!._entities).toEqual([{ id: 'c01', email: 'c01@example.com', addresses: [{ id: 'c01-home' }] }]);

    const admin = await server.query(ENTITY_EMAILS, refs(['c01', 'c02']), await deps.bearer('someone', ['customer', 'admin']));
    expect(admin.errors).toBeUndefined();
    expect(admin.data!._entities.map((c: { email: string }) => c.email)).toEqual(['c01@example.com', 'c02@example.com']);
  });
});
