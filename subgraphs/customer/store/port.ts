import type { Address } from '../../../platform/address';
import type { Scope } from '../../../platform/auth';
import type { StoreHandle } from '../../../platform/server';

/** A postal address as stored inside its customer. */
export interface AddressRecord extends Address {
  id: string;
}

/** A customer as the domain reads it; the password hash stays out of it. */
export interface CustomerRecord {
  id: string;
  /** Lower case; unique over all customers. */
  email: string;
  name: string;
  scopes: Scope[];
  /** Oldest first. */
  addresses: AddressRecord[];
  createdAt: Date;
}

/** A customer with the credential that signs them in: what is written, and what login reads. */
export interface StoredCustomer extends CustomerRecord {
  /** argon2id PHC string. */
  passwordHash: string;
}

/** A signed-in device, as the customer sees it in their list of sessions. */
export interface SessionRecord {
  id: string;
  customerId: string;
  createdAt: Date;
  /** When it was started or last refreshed. */
  lastUsedAt: Date;
  userAgent: string | null;
  /** When it was signed out or revoked; null while it lasts. */
  endedAt: Date | null;
  /** When its current refresh token stops working. */
  refreshExpiresAt: Date;
}

/** A session as sign-in starts it, with the hash of its first refresh token. */
export interface NewSession {
  id: string;
  customerId: string;
  createdAt: Date;
  userAgent: string | null;
  refreshHash: string;
  refreshExpiresAt: Date;
}

/**
 * What presenting a refresh token (by its hash) did: `rotated` replaced it with the next
 * one; `reused` found it already rotated away and ended its session (`endedNow` false when
 * it had ended before); `inactive` found its session ended or expired; `unknown` found nothing.
 */
export type RefreshOutcome =
  | { kind: 'rotated'; session: SessionRecord }
  | { kind: 'reused'; session: SessionRecord; endedNow: boolean }
  | { kind: 'inactive' }
  | { kind: 'unknown' };

/** A partner's API key as admins see it; the secret itself is never stored. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /** The first characters of the secret, so a key can be recognised. */
  prefix: string;
  /** Cost points the key's bucket holds when full. */
  maximumAvailable: number;
  /** Cost points the bucket regains per second. */
  restoreRate: number;
  createdAt: Date;
  /** Latest use the router reported; null before the first. */
  lastUsedAt: Date | null;
  /** When it was revoked; null while it works. */
  revokedAt: Date | null;
}

/** An API key with the SHA-256 of its secret (base64url): what is written, and what the router checks against. */
export interface StoredApiKey extends ApiKeyRecord {
  secretHash: string;
}

/** An insert the store refused because the id or the email (case-insensitively) is taken. */
export interface Duplicate {
  kind: 'duplicate';
}

/** Why an address was not appended. */
export type AddAddressRefusal = { kind: 'not-found' } | { kind: 'limit-reached'; limit: number };

/**
 * Where customers live: one document per customer with its addresses embedded, so a
 * document store (MongoDB) and PostgreSQL JSONB serve the same port.
 */
export interface CustomerStore extends StoreHandle {
  /** Customers by id, in one query; unknown ids are absent. */
  findByIds(ids: readonly string[]): Promise<CustomerRecord[]>;
  /** The customer with this email compared case-insensitively, with the password hash; null when none. */
  findByEmail(email: string): Promise<StoredCustomer | null>;
  /** Adds one customer; refuses, changing nothing, when the id or email exists. */
  insert(customer: StoredCustomer): Promise<CustomerRecord | Duplicate>;
  /**
   * Appends an address in one atomic write, only while the customer has fewer than
   * `limit`: concurrent appends can never exceed it.
   */
  addAddress(customerId: string, address: AddressRecord, limit: number): Promise<AddressRecord | AddAddressRefusal>;
  /** Whether the store holds no customer (seeding). */
  isEmpty(): Promise<boolean>;
  /** Adds many customers in one transaction, skipping ids or emails that exist; returns how many were added. */
  insertMany(customers: readonly StoredCustomer[]): Promise<number>;
  /** The customer with this id, with the password hash; null when none. */
  findCredentials(customerId: string): Promise<StoredCustomer | null>;
  /**
   * Replaces the customer's password hash and, in the same transaction, ends every
   * session of theirs except `keepSessionId`; returns the ids it ended, or not-found.
   */
  changePassword(
    customerId: string,
    passwordHash: string,
    now: Date,
    keepSessionId?: string,
  ): Promise<{ endedSessionIds: string[] } | { kind: 'not-found' }>;

  /** Records a new session; the customer must exist. */
  startSession(session: NewSession): Promise<SessionRecord>;
  /**
   * Presents a refresh token by its hash and, when it is the current one of a live session,
   * replaces it with `next` and marks the session used at `now`. Atomic: of concurrent calls
   * with the same hash exactly one rotates; the others find it rotated away.
   */
  rotateRefreshToken(presentedHash: string, next: { hash: string; expiresAt: Date }, now: Date): Promise<RefreshOutcome>;
  /** Ends one session of the customer; false when it is not theirs or had ended already. */
  endSession(customerId: string, sessionId: string, now: Date): Promise<boolean>;
  /** Ends every live session of the customer; returns the ids it ended. */
  endCustomerSessions(customerId: string, now: Date): Promise<string[]>;
  /** The customer's live sessions (not ended, refresh token not expired), oldest first. */
  activeSessions(customerId: string, now: Date): Promise<SessionRecord[]>;
  /** Sessions that ended after `since` (a restarted process remembers them as revoked). */
  sessionsEndedSince(since: Date): Promise<{ id: string; endedAt: Date }[]>;
  /**
   * Deletes sessions whose refresh token expired before `now` and sessions that ended
   * before `endedBefore`, with their retired tokens; returns how many sessions it deleted.
   */
  deleteStaleSessions(now: Date, endedBefore: Date): Promise<number>;

  /** Records a new API key. */
  createApiKey(key: StoredApiKey): Promise<ApiKeyRecord>;
  /** Every API key, revoked ones too, newest first. */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** The keys not revoked, with their secret hashes (the router's key ring). */
  activeApiKeys(): Promise<StoredApiKey[]>;
  /** Revokes a key at `now`; a key revoked before keeps its time. Null when there is no such key. */
  revokeApiKey(id: string, now: Date): Promise<ApiKeyRecord | null>;
  /** Records when keys were last used, in one statement; an earlier time never replaces a later one. */
  recordApiKeyUse(usage: readonly { id: string; at: Date }[]): Promise<void>;

  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
}
