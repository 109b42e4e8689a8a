import { randomBytes, randomUUID } from 'node:crypto';
import type DataLoader from 'dataloader';
import {
  requireAdmin,
  requireCustomer,
  requireOwnerOrAdmin,
  type AccessTokens,
  type Scope,
  type SessionRevocations,
  type Viewer,
} from '../../platform/auth';
import type { ClientInfo } from '../../platform/context';
import { ShopError, badUserInput, notFound, unauthenticated } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import { recordLoader } from '../../platform/loaders';
import { mapConcurrently } from './concurrency';
import {
  PASSWORD_MAX,
  WRONG_CURRENT,
  normalizeEmail,
  parseAddressInput,
  parseChangePasswordInput,
  parseRegisterInput,
  type AddressFields,
  type AddressInput,
} from './customer-input';
import type { LoginThrottle } from './login-throttle';
import { argon2idHasher, type PasswordHasher } from './password-hasher';
import { hashRefreshToken, newRefreshToken } from './refresh-tokens';
import type { AddressRecord, CustomerRecord, CustomerStore, SessionRecord, StoredCustomer } from './store/port';

/** Addresses one customer can keep; more is an address book, not a shop account. */
export const MAX_ADDRESSES = 10;

/**
 * argon2 hashes computed at once when importing: each holds a libuv thread and 19 MiB,
 * and libuv has four threads by default.
 */
export const IMPORT_HASH_CONCURRENCY = 4;

/** The one answer to every failed sign-in, so it never tells whether the email exists. */
export const WRONG_CREDENTIALS = 'Email or password is wrong.';

/** The one answer to a refresh token that does not (or no longer) work. */
export const INVALID_REFRESH = 'The refresh token is not valid; sign in again.';

/** The answer to a sign-in refused for too many failures; the same whether the account exists or not. */
export const TOO_MANY_ATTEMPTS = 'Too many failed sign-in attempts; try again later.';

/**
 * How much later than its revocation a session's access tokens are remembered as ended,
 * beyond their lifetime: room for clocks of replicas that disagree a little.
 */
const CLOCK_SKEW_MS = 60_000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** A signed-in session: its tokens and whose it is. */
export interface AuthResult {
  accessToken: string;
  expiresAt: Date;
  /** Opaque; only its hash is stored. */
  refreshToken: string;
  refreshExpiresAt: Date;
  customer: CustomerRecord;
}

/** A session as its customer sees it in their list. */
export interface SessionView extends SessionRecord {
  /** Whether the request came with this session's access token. */
  current: boolean;
}

/** How sessions are kept: their lifetimes, how ended ones are refused, how sign-ins are limited. */
export interface SessionOptions {
  /** Ends sessions in every process (platform/revocations.ts). */
  revocations: Pick<SessionRevocations, 'revoke'>;
  /** Counts failed sign-ins. */
  throttle: LoginThrottle;
  /** Lifetime of each refresh token, in days (REFRESH_TOKEN_TTL_DAYS). */
  refreshTokenTtlDays: number;
  /** Lifetime of access tokens, in seconds: how long an ended session is remembered as revoked. */
  accessTokenTtlSeconds: number;
  logger: Logger;
  /** The clock; default `Date.now`. */
  now?: () => number;
}

/** A customer brought in by bulk import (seeding): given id and creation time, plain password. */
export interface ImportedCustomer {
  id: string;
  email: string;
  name: string;
  password: string;
  admin: boolean;
  createdAt: Date;
  addresses: AddressInput[];
}

/** This request's batched readers of customers. */
export interface CustomerLoaders {
  customers: DataLoader<string, CustomerRecord | null>;
}

/**
 * Marks the customer a sign-up or sign-in returns: they just proved who they are with
 * their password, though the request carried no token, so they may read their own details.
 * A symbol, so no client input (such as an entity representation) can carry it.
 */
const SIGNED_IN = Symbol('signed in by this request');

/** The value under SIGNED_IN: the session the request just started. */
type SignedInCustomer = CustomerRecord & { readonly [SIGNED_IN]?: string };

function withId(address: AddressFields): AddressRecord {
  return { id: randomUUID(), ...address };
}

/** Customer's rules: sign-up, sign-in, who may see whose details, and what an address is. */
export class CustomerService {
  /**
   * Checked when the email is unknown so that a failed sign-in costs one argon2 verify
   * either way; made at start so the first unknown email is not slower than the rest.
   */
  private readonly dummyHash: Promise<string>;
  private readonly now: () => number;

  constructor(
    private readonly store: CustomerStore,
    private readonly tokens: Pick<AccessTokens, 'issue'>,
    private readonly sessions: SessionOptions,
    private readonly hasher: PasswordHasher = argon2idHasher(),
  ) {
    this.now = sessions.now ?? Date.now;
    this.dummyHash = hasher.hash(randomBytes(24).toString('base64url'));
    // A failure surfaces on the first sign-in that needs it, not as an unhandled rejection.
    this.dummyHash.catch(() => {});
  }

  loaders(): CustomerLoaders {
    return { customers: recordLoader((ids) => this.store.findByIds(ids), (c) => c.id) };
  }

  /** The signed-in customer; null when their account is gone. */
  async me(viewer: Viewer, loaders: CustomerLoaders): Promise<CustomerRecord | null> {
    const { customerId } = requireCustomer(viewer);
    return loaders.customers.load(customerId);
  }

  /** A customer's email, for that customer or an admin only. */
  email(viewer: Viewer, customer: CustomerRecord): string {
    this.requireOwnDetails(viewer, customer);
    return customer.email;
  }

  /** A customer's addresses, for that customer or an admin only. */
  addresses(viewer: Viewer, customer: CustomerRecord): AddressRecord[] {
    this.requireOwnDetails(viewer, customer);
    return customer.addresses;
  }

  /** A customer's live sessions, for that customer or an admin only. */
  async sessionsOf(viewer: Viewer, customer: SignedInCustomer): Promise<SessionView[]> {
    this.requireOwnDetails(viewer, customer);
    const current = customer[SIGNED_IN] ?? (viewer.kind === 'customer' ? viewer.sessionId : undefined);
    const list = await this.store.activeSessions(customer.id, new Date(this.now()));
    return list.map((session) => ({ ...session, current: session.id === current }));
  }

  async register(input: { email: string; password: string; name: string }, client: ClientInfo = {}): Promise<AuthResult> {
    const fields = parseRegisterInput(input);
    const stored: StoredCustomer = {
      id: randomUUID(),
      email: fields.email,
      name: fields.name,
      scopes: ['customer'],
      addresses: [],
      createdAt: new Date(),
      passwordHash: await this.hasher.hash(fields.password),
    };
    const result = await this.store.insert(stored);
    if ('kind' in result) {
      throw new ShopError('EMAIL_ALREADY_REGISTERED', 'An account with this email address already exists.', {
        field: 'email',
      });
    }
    return this.signIn(result, client);
  }

  /**
   * Signs in and starts a session. Failures are counted per email and per client address;
   * past the limits attempts are refused (THROTTLED) before any lookup, so neither the
   * answer nor its timing tells whether the account exists.
   */
  async login(input: { email: string; password: string }, client: ClientInfo = {}): Promise<AuthResult> {
    const email = normalizeEmail(input.email);
    const attempt = await this.sessions.throttle.attempt(email, client.address);
    if (attempt.kind === 'throttled') {
      throw new ShopError('THROTTLED', TOO_MANY_ATTEMPTS, { retryAfterSeconds: attempt.retryAfterSeconds });
    }
    // No registered password is this long, and hashing it would only cost us time.
    if (input.password.length > PASSWORD_MAX) throw unauthenticated(WRONG_CREDENTIALS);
    const found = await this.store.findByEmail(email);
    const matches = await this.hasher.verify(found?.passwordHash ?? (await this.dummyHash), input.password);
    if (!found || !matches) throw unauthenticated(WRONG_CREDENTIALS);
    await attempt.succeeded();
    const { passwordHash: _hash, ...customer } = found;
    return this.signIn(customer, client);
  }

  /**
   * Trades a refresh token for a new access and refresh token pair; the one presented stops
   * working. Presenting one that was already traded ends its whole session: either its
   * owner or a thief holds a copy, and the session can no longer be trusted.
   */
  async refreshSession(refreshToken: string): Promise<AuthResult> {
    const now = this.now();
    const next = newRefreshToken();
    const refreshExpiresAt = new Date(now + this.sessions.refreshTokenTtlDays * DAY_MS);
    const outcome = await this.store.rotateRefreshToken(
      hashRefreshToken(refreshToken),
      { hash: next.hash, expiresAt: refreshExpiresAt },
      new Date(now),
    );
    if (outcome.kind === 'reused') {
      this.sessions.logger.warn({ sessionId: outcome.session.id, customerId: outcome.session.customerId }, 'rotated refresh token presented again; session ended');
      if (outcome.endedNow) await this.revoke([outcome.session.id]);
    }
    if (outcome.kind !== 'rotated') throw unauthenticated(INVALID_REFRESH);
    const { session } = outcome;
    const [customer] = await this.store.findByIds([session.customerId]);
    if (!customer) {
      await this.store.endSession(session.customerId, session.id, new Date(now));
      throw unauthenticated(INVALID_REFRESH);
    }
    const { token, expiresAt } = await this.tokens.issue(customer.id, customer.scopes, session.id);
    return { accessToken: token, expiresAt, refreshToken: next.token, refreshExpiresAt, customer: this.signedIn(customer, session.id) };
  }

  /** Ends the caller's session; false when their token belongs to none. */
  async logout(viewer: Viewer): Promise<boolean> {
    const { customerId } = requireCustomer(viewer);
    const sessionId = viewer.kind === 'customer' ? viewer.sessionId : undefined;
    if (!sessionId) return false;
    await this.store.endSession(customerId, sessionId, new Date(this.now()));
    // Also when it had ended already: a retried sign-out reaches every process.
    await this.revoke([sessionId]);
    return true;
  }

  /** Ends every session of the caller, this one included. */
  async logoutEverywhere(viewer: Viewer): Promise<boolean> {
    const { customerId } = requireCustomer(viewer);
    const ended = await this.store.endCustomerSessions(customerId, new Date(this.now()));
    const sessionId = viewer.kind === 'customer' ? viewer.sessionId : undefined;
    await this.revoke(sessionId && !ended.includes(sessionId) ? [...ended, sessionId] : ended);
    return true;
  }

  /**
   * Replaces the caller's password after checking the current one, and ends every other
   * session of theirs; the caller's stays signed in. Wrong current passwords count as
   * failed sign-ins, so a stolen access token cannot be used to guess the password.
   */
  async changePassword(viewer: Viewer, input: { currentPassword: string; newPassword: string }, client: ClientInfo = {}): Promise<boolean> {
    const { customerId } = requireCustomer(viewer);
    const fields = parseChangePasswordInput(input);
    const found = await this.store.findCredentials(customerId);
    if (!found) throw notFound('Customer');
    const attempt = await this.sessions.throttle.attempt(found.email, client.address);
    if (attempt.kind === 'throttled') {
      throw new ShopError('THROTTLED', TOO_MANY_ATTEMPTS, { retryAfterSeconds: attempt.retryAfterSeconds });
    }
    const matches = fields.currentPassword.length <= PASSWORD_MAX && (await this.hasher.verify(found.passwordHash, fields.currentPassword));
    if (!matches) throw badUserInput(WRONG_CURRENT, { field: 'currentPassword' });
    await attempt.succeeded();
    const keep = viewer.kind === 'customer' ? viewer.sessionId : undefined;
    const changed = await this.store.changePassword(customerId, await this.hasher.hash(fields.newPassword), new Date(this.now()), keep);
    if ('kind' in changed) throw notFound('Customer');
    await this.revoke(changed.endedSessionIds);
    return true;
  }

  /** Ends every session of a customer (admins only); returns how many were live. */
  async revokeCustomerSessions(viewer: Viewer, customerId: string): Promise<number> {
    requireAdmin(viewer);
    const ended = await this.store.endCustomerSessions(customerId, new Date(this.now()));
    await this.revoke(ended);
    return ended.length;
  }

  /**
   * Remembers sessions that ended within the last access-token lifetime as revoked: a
   * process that restarts without a shared record (no Redis) keeps refusing their tokens.
   */
  async recallEndedSessions(): Promise<number> {
    const since = new Date(this.now() - this.sessions.accessTokenTtlSeconds * 1000 - CLOCK_SKEW_MS);
    const ended = await this.store.sessionsEndedSince(since);
    await this.revoke(ended.map((s) => s.id));
    return ended.length;
  }

  /** Deletes sessions whose refresh token expired, and ended ones whose access tokens have. */
  deleteStaleSessions(): Promise<number> {
    const now = this.now();
    return this.store.deleteStaleSessions(new Date(now), new Date(now - this.sessions.accessTokenTtlSeconds * 1000 - CLOCK_SKEW_MS));
  }

  async addAddress(viewer: Viewer, input: AddressInput, loaders: CustomerLoaders): Promise<AddressRecord> {
    const { customerId } = requireCustomer(viewer);
    const address = withId(parseAddressInput(input));
    const result = await this.store.addAddress(customerId, address, MAX_ADDRESSES);
    if ('kind' in result) {
      if (result.kind === 'not-found') throw notFound('Customer');
      throw new ShopError('CONFLICT', `A customer can keep at most ${result.limit} addresses.`, { limit: result.limit });
    }
    loaders.customers.clear(customerId);
    return result;
  }

  /** Whether no customer exists yet (seeding). */
  isEmpty(): Promise<boolean> {
    return this.store.isEmpty();
  }

  /**
   * Adds many customers at once under the same rules as sign-up: every field validated,
   * each password hashed with its own salt. Existing ids or emails are skipped.
   * Returns how many were added.
   */
  async importCustomers(list: readonly ImportedCustomer[]): Promise<number> {
    const parsed = list.map((customer) => {
      const fields = parseRegisterInput(customer);
      if (customer.addresses.length > MAX_ADDRESSES) {
        throw badUserInput(`Customer ${customer.id} has more than ${MAX_ADDRESSES} addresses.`, { field: 'addresses' });
      }
      const scopes: Scope[] = customer.admin ? ['customer', 'admin'] : ['customer'];
      return {
        id: customer.id,
        email: fields.email,
        name: fields.name,
        password: fields.password,
        scopes,
        addresses: customer.addresses.map((a) => withId(parseAddressInput(a))),
        createdAt: customer.createdAt,
      };
    });
    const stored = await mapConcurrently(parsed, IMPORT_HASH_CONCURRENCY, async ({ password, ...customer }) => ({
      ...customer,
      passwordHash: await this.hasher.hash(password),
    }));
    return this.store.insertMany(stored);
  }

  private requireOwnDetails(viewer: Viewer, customer: SignedInCustomer): void {
    if (customer[SIGNED_IN]) return;
    requireOwnerOrAdmin(viewer, customer.id);
  }

  private async signIn(customer: CustomerRecord, client: ClientInfo): Promise<AuthResult> {
    const now = this.now();
    const refresh = newRefreshToken();
    const session = await this.store.startSession({
      id: randomUUID(),
      customerId: customer.id,
      createdAt: new Date(now),
      userAgent: client.userAgent ?? null,
      refreshHash: refresh.hash,
      refreshExpiresAt: new Date(now + this.sessions.refreshTokenTtlDays * DAY_MS),
    });
    const { token, expiresAt } = await this.tokens.issue(customer.id, customer.scopes, session.id);
    return {
      accessToken: token,
      expiresAt,
      refreshToken: refresh.token,
      refreshExpiresAt: session.refreshExpiresAt,
      customer: this.signedIn(customer, session.id),
    };
  }

  private signedIn(customer: CustomerRecord, sessionId: string): SignedInCustomer {
    return { ...customer, [SIGNED_IN]: sessionId };
  }

  /** Ends sessions in every process, for as long as their access tokens could be valid. */
  private revoke(sessionIds: readonly string[]): Promise<void> {
    if (sessionIds.length === 0) return Promise.resolve();
    const until = new Date(this.now() + this.sessions.accessTokenTtlSeconds * 1000 + CLOCK_SKEW_MS);
    return this.sessions.revocations.revoke(sessionIds, until);
  }
}
