import { AccessTokens, loadTokenKeys } from '../../../platform/auth';
import { revocationsOn, type Revocations } from '../../../platform/revocations';
import type { RunningService } from '../../../platform/server';
import { postGraphQL, serveTestSubgraph, testDeps, waitFor, type GraphQLResponse, type TestDeps } from '../../../platform/testing';
import { inProcessLoginThrottle } from '../login-throttle';
import type { CustomerStore } from '../store/port';
import { customerSubgraph, openCustomerStore } from '../subgraph';
import { customerBackends, customerTestStore } from './backends';

type Served = RunningService & {
  query: <T = Record<string, any>>(q: string, v?: Record<string, unknown>, auth?: string) => Promise<GraphQLResponse<T>>;
};

const PAYLOAD = 'accessToken expiresAt refreshToken refreshExpiresAt customer { id email }';
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { ${PAYLOAD} } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { ${PAYLOAD} } }`;
const REFRESH = `mutation ($token: String!) { refreshSession(refreshToken: $token) { ${PAYLOAD} } }`;
const ME = `query { me { id sessions { id createdAt lastUsedAt userAgent current } } }`;
const LOGOUT = `mutation { logout }`;
const LOGOUT_EVERYWHERE = `mutation { logoutEverywhere }`;
const CHANGE_PASSWORD = `mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }`;
const REVOKE = `mutation ($id: ID!) { revokeCustomerSessions(customerId: $id) }`;
const SESSIONS_OF = `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Customer { id sessions { id current } } } }`;

const PASSWORD = 'correct horse battery';
const codeOf = (response: GraphQLResponse) => response.errors?.[0]?.extensions?.code;
const bearer = (token: string) => `Bearer ${token}`;

interface Tokens {
  accessToken: string;
  refreshToken: string;
  refreshExpiresAt: string;
  customer: { id: string; email: string };
}

describe.each(customerBackends())('sessions over HTTP on %s', (backend) => {
  let deps: TestDeps;
  let store: CustomerStore;
  let server: Served;
  let email = 0;

  beforeAll(async () => {
    ({ deps, store } = await customerTestStore(backend));
    server = await serveTestSubgraph(customerSubgraph(store, deps), deps);
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  const post = (query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    postGraphQL(server.url, query, variables, headers);

  async function register(userAgent = 'test-agent/1.0'): Promise<Tokens> {
    email += 1;
    const response = await post(REGISTER, { input: { email: `session-${email}@example.com`, password: PASSWORD, name: 'Sam' } }, { 'user-agent': userAgent });
    expect(response.errors).toBeUndefined();
    return response.data!.register;
  }

  async function login(address: string, userAgent = 'second-device/2.0'): Promise<Tokens> {
    const response = await post(LOGIN, { input: { email: address, password: PASSWORD } }, { 'user-agent': userAgent });
    expect(response.errors).toBeUndefined();
    return response.data!.login;
  }

  it('returns a 256-bit refresh token valid for 30 days with every sign-up and sign-in, and stores only its hash', async () => {
    const registered = await register();
    expect(Buffer.from(registered.refreshToken, 'base64url')).toHaveLength(32);
    const days = (Date.parse(registered.refreshExpiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.99);
    expect(days).toBeLessThanOrEqual(30);
    const signedIn = await login(registered.customer.email);
    expect(signedIn.refreshToken).not.toBe(registered.refreshToken);
    const viewer = await deps.tokens.viewerFromAuthorization(bearer(signedIn.accessToken));
    expect(viewer).toMatchObject({ kind: 'customer', sessionId: expect.any(String) });
    // The session is found by the hash of the token, never by the token itself.
    expect(await store.rotateRefreshToken(signedIn.refreshToken, { hash: 'x', expiresAt: new Date() }, new Date())).toEqual({ kind: 'unknown' });
  });

  it('rotates: a refresh gives a new pair for the same session, and the old refresh token stops working', async () => {
    const first = await register();
    const refreshed = await post(REFRESH, { token: first.refreshToken });
    expect(refreshed.errors).toBeUndefined();
    const second: Tokens = refreshed.data!.refreshSession;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.customer).toEqual(first.customer);
    const before = await deps.tokens.viewerFromAuthorization(bearer(first.accessToken));
    const after = await deps.tokens.viewerFromAuthorization(bearer(second.accessToken));
    expect(after).toMatchObject({ customerId: first.customer.id, sessionId: (before as { sessionId: string }).sessionId });
    expect((await server.query(ME, {}, bearer(second.accessToken))).data!.me.sessions).toHaveLength(1);

    const third = await post(REFRESH, { token: second.refreshToken });
    expect(third.errors).toBeUndefined();
  });

  it('ends the whole session when a rotated refresh token is presented again, and refuses its access tokens', async () => {
    const stolen = await register();
    const owner: Tokens = (await post(REFRESH, { token: stolen.refreshToken })).data!.refreshSession;
    expect(codeOf(await server.query(ME, {}, bearer(owner.accessToken)))).toBeUndefined();

    const replay = await post(REFRESH, { token: stolen.refreshToken });
    expect(replay.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    expect(replay.data).toBeNull();

    // Every token of the session is dead: the latest refresh token and the access tokens.
    expect(codeOf(await post(REFRESH, { token: owner.refreshToken }))).toBe('UNAUTHENTICATED');
    for (const token of [owner.accessToken, stolen.accessToken]) {
      const me = await server.query(ME, {}, bearer(token));
      expect(me.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    }
  });

  it('refuses unknown and malformed refresh tokens alike', async () => {
    for (const token of ['', 'not-a-token', Buffer.alloc(32, 7).toString('base64url'), 'x'.repeat(5000)]) {
      const response = await post(REFRESH, { token });
      expect(response.errors?.[0]).toMatchObject({ message: 'The refresh token is not valid; sign in again.', extensions: { code: 'UNAUTHENTICATED' } });
    }
  });

  it('lets exactly one of two refreshes with the same token at once win', async () => {
    const session = await register();
    const results = await Promise.all([post(REFRESH, { token: session.refreshToken }), post(REFRESH, { token: session.refreshToken })]);
    expect(results.filter((r) => r.errors === undefined)).toHaveLength(1);
    expect(results.filter((r) => codeOf(r) === 'UNAUTHENTICATED')).toHaveLength(1);
  });

  it('lists live sessions with their device and marks the current one; only for the customer or an admin', async () => {
    const phone = await register('phone/1.0');
    const laptop = await login(phone.customer.email, 'laptop/2.0');
    const me = await server.query(ME, {}, bearer(laptop.accessToken));
    expect(me.errors).toBeUndefined();
    const sessions = me.data!.me.sessions as { id: string; userAgent: string; current: boolean; createdAt: string; lastUsedAt: string }[];
    expect(sessions.map((s) => [s.userAgent, s.current])).toEqual([
      ['phone/1.0', false],
      ['laptop/2.0', true],
    ]);
    expect(new Date(sessions[0]!.createdAt).toISOString()).toBe(sessions[0]!.createdAt);
    expect(Date.parse(sessions[0]!.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(sessions[0]!.createdAt));

    const reps = [{ __typename: 'Customer', id: phone.customer.id }];
    const other = await register();
    expect(codeOf(await server.query(SESSIONS_OF, { reps }, bearer(other.accessToken)))).toBe('FORBIDDEN');
    const admin = await server.query(SESSIONS_OF, { reps }, await deps.bearer('an-admin', ['customer', 'admin']));
    expect(admin.errors).toBeUndefined();
    expect(admin.data!._entities[0].sessions).toHaveLength(2);
    expect(admin.data!._entities[0].sessions.every((s: { current: boolean }) => !s.current)).toBe(true);
  });

  it('logout ends only the caller session: its access and refresh tokens stop working, the other device stays', async () => {
    const phone = await register();
    const laptop = await login(phone.customer.email);
    const out = await server.query(LOGOUT, {}, bearer(laptop.accessToken));
    expect(out).toEqual({ data: { logout: true } });
    expect(codeOf(await server.query(ME, {}, bearer(laptop.accessToken)))).toBe('UNAUTHENTICATED');
    expect(codeOf(await post(REFRESH, { token: laptop.refreshToken }))).toBe('UNAUTHENTICATED');
    const still = await server.query(ME, {}, bearer(phone.accessToken));
    expect(still.data!.me.sessions.map((s: { current: boolean }) => s.current)).toEqual([true]);
    expect(codeOf(await server.query(LOGOUT))).toBe('UNAUTHENTICATED');
  });

  it('logoutEverywhere ends every session of the customer', async () => {
    const phone = await register();
    const laptop = await login(phone.customer.email);
    const other = await register();
    expect((await server.query(LOGOUT_EVERYWHERE, {}, bearer(phone.accessToken))).data).toEqual({ logoutEverywhere: true });
    for (const token of [phone.accessToken, laptop.accessToken]) expect(codeOf(await server.query(ME, {}, bearer(token)))).toBe('UNAUTHENTICATED');
    for (const token of [phone.refreshToken, laptop.refreshToken]) expect(codeOf(await post(REFRESH, { token }))).toBe('UNAUTHENTICATED');
    expect((await server.query(ME, {}, bearer(other.accessToken))).errors).toBeUndefined();
  });

  it('changePassword checks the current password, keeps this session and ends the others', async () => {
    const phone = await register();
    const laptop = await login(phone.customer.email);
    const input = (currentPassword: string, newPassword = 'a brand new secret') => ({ input: { currentPassword, newPassword } });

    const wrong = await server.query(CHANGE_PASSWORD, input('not the password'), bearer(laptop.accessToken));
    expect(wrong.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'currentPassword' });
    const short = await server.query(CHANGE_PASSWORD, input(PASSWORD, 'short'), bearer(laptop.accessToken));
    expect(short.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'newPassword' });
    expect((await server.query(ME, {}, bearer(phone.accessToken))).errors).toBeUndefined();

    const changed = await server.query(CHANGE_PASSWORD, input(PASSWORD), bearer(laptop.accessToken));
    expect(changed).toEqual({ data: { changePassword: true } });
    expect(codeOf(await server.query(ME, {}, bearer(phone.accessToken)))).toBe('UNAUTHENTICATED');
    expect(codeOf(await post(REFRESH, { token: phone.refreshToken }))).toBe('UNAUTHENTICATED');
    expect((await server.query(ME, {}, bearer(laptop.accessToken))).data!.me.sessions).toHaveLength(1);

    expect(codeOf(await post(LOGIN, { input: { email: phone.customer.email, password: PASSWORD } }))).toBe('UNAUTHENTICATED');
    expect((await post(LOGIN, { input: { email: phone.customer.email, password: 'a brand new secret' } })).errors).toBeUndefined();
  });

  it('lets admins, and only admins, end every session of a customer, saying how many', async () => {
    const phone = await register();
    const laptop = await login(phone.customer.email);
    const variables = { id: phone.customer.id };
    expect(codeOf(await server.query(REVOKE, variables, bearer(laptop.accessToken)))).toBe('FORBIDDEN');
    expect(codeOf(await server.query(REVOKE, variables))).toBe('UNAUTHENTICATED');
    const admin = await deps.bearer('an-admin', ['customer', 'admin']);
    expect(await server.query(REVOKE, variables, admin)).toEqual({ data: { revokeCustomerSessions: 2 } });
    expect(await server.query(REVOKE, variables, admin)).toEqual({ data: { revokeCustomerSessions: 0 } });
    for (const token of [phone.accessToken, laptop.accessToken]) expect(codeOf(await server.query(ME, {}, bearer(token)))).toBe('UNAUTHENTICATED');
  });

  it('refuses an ended session in another subgraph of the process within 5 s, through the pub/sub', async () => {
    // Another process's view: its own tokens and revocation list, on the same pub/sub.
    const otherTokens = new AccessTokens(await loadTokenKeys(deps.config), { issuer: deps.config.JWT_ISSUER, ttlSeconds: 900 });
    const otherList: Revocations = await revocationsOn(deps.config, deps.logger, await deps.pubsub());
    otherTokens.useRevocations(otherList);
    try {
      const session = await register();
      expect((await otherTokens.viewerFromAuthorization(bearer(session.accessToken))).kind).toBe('customer');
      await server.query(LOGOUT, {}, bearer(session.accessToken));
      const began = Date.now();
      await waitFor('the other subgraph to refuse the token', async () => (await otherTokens.viewerFromAuthorization(bearer(session.accessToken))).kind === 'invalid', 5000);
      expect(Date.now() - began).toBeLessThan(5000);
    } finally {
      await otherList.close();
    }
  });
});

describe('sign-in throttling', () => {
  let deps: TestDeps;
  let server: Served;
  const perEmail = 10;
  const perAddress = 15;

  beforeAll(async () => {
    deps = await testDeps('pglite');
    const store = await openCustomerStore(deps);
    server = await serveTestSubgraph(customerSubgraph(store, deps, undefined, inProcessLoginThrottle({ perEmail, perAddress, windowSeconds: 900 })), deps);
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  const attempt = (email: string, password: string, address: string) =>
    postGraphQL(server.url, LOGIN, { input: { email, password } }, { 'x-client-address': address });
  const register = (email: string) =>
    postGraphQL(server.url, REGISTER, { input: { email, password: PASSWORD, name: 'T' } }, { 'x-client-address': '192.0.2.250' });

  it('refuses the 11th attempt for one email after 10 failures, even with the right password, with a retry hint', async () => {
    await register('target@example.com');
    for (let i = 1; i <= perEmail; i += 1) {
      const failed = await attempt('target@example.com', `wrong password ${i}`, `198.51.100.${i}`);
      expect(codeOf(failed)).toBe('UNAUTHENTICATED');
    }
    const throttled = await attempt('Target@Example.com', PASSWORD, '198.51.100.99');
    expect(throttled.errors?.[0]).toMatchObject({ message: 'Too many failed sign-in attempts; try again later.', extensions: { code: 'THROTTLED' } });
    const retry = throttled.errors![0]!.extensions!.retryAfterSeconds;
    expect(retry).toBeGreaterThan(890);
    expect(retry).toBeLessThanOrEqual(900);
    // Other accounts are not affected.
    await register('bystander@example.com');
    expect((await attempt('bystander@example.com', PASSWORD, '198.51.100.99')).errors).toBeUndefined();
  });

  it('throttles an unknown email exactly like an existing one, so the answer tells nothing', async () => {
    const answers: unknown[] = [];
    for (const email of ['ghost@example.com', 'known@example.com']) {
      if (email === 'known@example.com') await register(email);
      for (let i = 0; i < perEmail; i += 1) await attempt(email, 'wrong password', `203.0.113.${i}`);
      const throttled = await attempt(email, PASSWORD, '203.0.113.200');
      answers.push({ ...throttled.errors![0], extensions: { ...throttled.errors![0]!.extensions, retryAfterSeconds: 'n' } });
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toMatchObject({ extensions: { code: 'THROTTLED' } });
  });

  it('forgets an account failures when it signs in successfully', async () => {
    await register('forgetful@example.com');
    for (let i = 0; i < perEmail - 1; i += 1) expect(codeOf(await attempt('forgetful@example.com', 'nope nope nope', '192.0.2.1'))).toBe('UNAUTHENTICATED');
    expect((await attempt('forgetful@example.com', PASSWORD, '192.0.2.2')).errors).toBeUndefined();
    for (let i = 0; i < perEmail; i += 1) expect(codeOf(await attempt('forgetful@example.com', 'nope nope nope', '192.0.2.3'))).toBe('UNAUTHENTICATED');
    expect(codeOf(await attempt('forgetful@example.com', PASSWORD, '192.0.2.4'))).toBe('THROTTLED');
  });

  it('answers an unknown email and a wrong password with the same error in similar time', async () => {
    await register('timed@example.com');
    const timed = async (email: string, i: number) => {
      const began = process.hrtime.bigint();
      const response = await attempt(email, 'not the password', `192.0.2.${100 + i}`);
      return { ms: Number(process.hrtime.bigint() - began) / 1e6, error: response.errors?.[0] };
    };
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      // Alternating, so load from elsewhere on the machine falls on both alike.
      const a = await timed('timed@example.com', i);
      const b = await timed(`nobody-${i}@example.com`, i);
      expect(a.error).toEqual(b.error);
      expect(a.error).toMatchObject({ message: 'Email or password is wrong.', extensions: { code: 'UNAUTHENTICATED' } });
      if (i === 4) await attempt('timed@example.com', PASSWORD, '192.0.2.99');
      wrong.push(a.ms);
      unknown.push(b.ms);
    }
    const median = (list: number[]) => [...list].sort((x, y) => x - y)[Math.floor(list.length / 2)]!;
    process.stdout.write(`sign-in failure, median ms: wrong password ${median(wrong).toFixed(1)}, unknown email ${median(unknown).toFixed(1)}\n`);
    // Both verify one argon2 hash: an unknown email is neither markedly faster nor slower.
    expect(median(unknown) / median(wrong)).toBeGreaterThan(0.6);
    expect(median(unknown) / median(wrong)).toBeLessThan(1.66);
  });

  it('refuses one client address after its failures across many emails, and no other address', async () => {
    for (let i = 0; i < perAddress; i += 1) expect(codeOf(await attempt(`spray-${i}@example.com`, 'guess guess guess', '10.9.8.7'))).toBe('UNAUTHENTICATED');
    await register('sprayed@example.com');
    const throttled = await attempt('sprayed@example.com', PASSWORD, '10.9.8.7');
    expect(throttled.errors?.[0]?.extensions).toMatchObject({ code: 'THROTTLED', retryAfterSeconds: expect.any(Number) });
    expect((await attempt('sprayed@example.com', PASSWORD, '10.9.8.8')).errors).toBeUndefined();
  });
});
