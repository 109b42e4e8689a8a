import { AccessTokens, generateTokenKeys, whenExpired, type Viewer } from '../auth';

const DAY_MS = 24 * 60 * 60 * 1000;

describe('access tokens', () => {
  it('gives a verified viewer the expiry its token was issued with', async () => {
    const tokens = new AccessTokens(await generateTokenKeys(), { issuer: 'test-shop', ttlSeconds: 900 });
    const { token, expiresAt } = await tokens.issue('ann', ['customer']);
    const viewer = await tokens.viewerFromAuthorization(`Bearer ${token}`);
    expect(viewer).toEqual({ kind: 'customer', customerId: 'ann', scopes: ['customer'], expiresAt });
  });

  it('refuses a token signed with other keys, or not a bearer token at all', async () => {
    const tokens = new AccessTokens(await generateTokenKeys(), { issuer: 'test-shop', ttlSeconds: 900 });
    const other = new AccessTokens(await generateTokenKeys(), { issuer: 'test-shop', ttlSeconds: 900 });
    const foreign = (await other.issue('ann', ['admin'])).token;
    expect(await tokens.viewerFromAuthorization(`Bearer ${foreign}`)).toEqual({ kind: 'invalid', reason: 'The access token is not valid.' });
    expect((await tokens.viewerFromAuthorization('Basic YW5uOnNlY3JldA==')).kind).toBe('invalid');
    expect(await tokens.viewerFromAuthorization(undefined)).toEqual({ kind: 'anonymous' });
  });
});

describe('tokens verified before', () => {
  it('are read again without the signature check, until they expire', async () => {
    const tokens = new AccessTokens(await generateTokenKeys(), { issuer: 'test-shop', ttlSeconds: 30 });
    const { token } = await tokens.issue('ann', ['customer']);
    const first = await tokens.viewerFromAuthorization(`Bearer ${token}`);
    expect(first.kind).toBe('customer');
    // With the verifying key swapped for another, only a token checked before still passes:
    // it is not checked again.
    const held = tokens as unknown as { keys: unknown };
    const keys = held.keys;
    held.keys = await generateTokenKeys();
    expect(await tokens.viewerFromAuthorization(`Bearer ${token}`)).toEqual(first);
    held.keys = keys;

    jest.useFakeTimers({ now: Date.now() + 31_000, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      expect(await tokens.viewerFromAuthorization(`Bearer ${token}`)).toEqual({ kind: 'invalid', reason: 'The access token has expired.' });
    } finally {
      jest.useRealTimers();
    }
  });

  it('do not vouch for a token that differs from them by one character', async () => {
    const tokens = new AccessTokens(await generateTokenKeys(), { issuer: 'test-shop', ttlSeconds: 900 });
    const { token } = await tokens.issue('ann', ['customer']);
    expect((await tokens.viewerFromAuthorization(`Bearer ${token}`)).kind).toBe('customer');
    const [header, payload, signature] = token.split('.');
    const admin = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), scope: 'admin' })).toString('base64url');
    expect(await tokens.viewerFromAuthorization(`Bearer ${header}.${admin}.${signature}`)).toEqual({ kind: 'invalid', reason: 'The access token is not valid.' });
    const flipped = signature!.slice(0, -2) + (signature!.endsWith('AA') ? 'BB' : 'AA');
    expect(await tokens.viewerFromAuthorization(`Bearer ${header}.${payload}.${flipped}`)).toEqual({ kind: 'invalid', reason: 'The access token is not valid.' });
  });
});

describe('whenExpired', () => {
  beforeEach(() => jest.useFakeTimers({ now: new Date('2026-03-01T12:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  const customer = (expiresInMs: number | undefined): Viewer => ({
    kind: 'customer',
    customerId: 'ann',
    scopes: ['customer'],
    ...(expiresInMs === undefined ? {} : { expiresAt: new Date(Date.now() + expiresInMs) }),
  });

  it('runs once the expiry has passed, not before', () => {
    const expired = jest.fn();
    whenExpired(customer(5000), expired);
    jest.advanceTimersByTime(4999);
    expect(expired).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(expired).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(DAY_MS);
    expect(expired).toHaveBeenCalledTimes(1);
  });

  it('waits out an expiry beyond the longest delay a timer takes', () => {
    const expired = jest.fn();
    whenExpired(customer(40 * DAY_MS), expired);
    jest.advanceTimersByTime(39 * DAY_MS);
    expect(expired).not.toHaveBeenCalled();
    jest.advanceTimersByTime(DAY_MS);
    expect(expired).toHaveBeenCalledTimes(1);
  });

  it('never runs once cancelled, nor for callers without an expiring token', () => {
    const cancelled = jest.fn();
    whenExpired(customer(1000), cancelled)();
    const anonymous = jest.fn();
    whenExpired({ kind: 'anonymous' }, anonymous);
    const noExpiry = jest.fn();
    whenExpired(customer(undefined), noExpiry);
    jest.advanceTimersByTime(365 * DAY_MS);
    expect([cancelled, anonymous, noExpiry].map((f) => f.mock.calls.length)).toEqual([0, 0, 0]);
  });
});
