import fs from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, jwtVerify, importPKCS8, importSPKI, errors as joseErrors, type JWTPayload, type KeyLike } from 'jose';
import { LRUCache } from 'lru-cache';
import { forbidden, unauthenticated } from './errors';

/** What a caller may do: `customer` acts on their own data, `admin` runs the shop. */
export type Scope = 'customer' | 'admin';

/** Who is calling, as proven by a verified access token. */
export type Viewer =
  | { kind: 'anonymous' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'customer'; customerId: string; scopes: readonly Scope[]; expiresAt?: Date; sessionId?: string };

/**
 * Ended sessions (signed out, revoked, rotated-token reuse) as every process knows them
 * (platform/revocations.ts). `hasEnded` is answered from memory, so verifying a token
 * stays local; `revoke` is how the customer subgraph ends sessions everywhere.
 */
export interface SessionRevocations {
  hasEnded(sessionId: string): boolean;
  /** Ends `sessionIds` in every process until `until`, the latest expiry of their access tokens. */
  revoke(sessionIds: readonly string[], until: Date): Promise<void>;
}

export interface TokenKeys {
  /** Present only where tokens are issued (the customer subgraph). */
  privateKey?: KeyLike;
  publicKey: KeyLike;
}

const ALG = 'EdDSA';

/** Why a token of an ended session is refused. */
export const SESSION_ENDED = 'The session of this access token has ended; sign in again.';

export interface AccessTokenOptions {
  issuer: string;
  ttlSeconds: number;
}

/** Issues and verifies short-lived Ed25519-signed JWT access tokens. */
/** Tokens whose signature and claims a process remembers having checked. */
const VERIFIED_TOKENS_KEPT = 10_000;

export class AccessTokens {
  private ended: SessionRevocations | undefined;
  /**
   * Claims of tokens verified before, by the token's exact text, each kept no longer than
   * the token lasts: a client sends one token with every request until it refreshes, and
   * checking an Ed25519 signature costs more than the rest of reading it. Whether the
   * token's session has ended is still asked every time.
   */
  private readonly verified = new LRUCache<string, JWTPayload>({ max: VERIFIED_TOKENS_KEPT });

  constructor(
    private readonly keys: TokenKeys,
    private readonly options: AccessTokenOptions,
  ) {}

  /** Lifetime of the tokens this issues, in seconds: how long a revocation must be remembered. */
  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  /**
   * From now on a token whose session has ended is refused like an invalid one, on every
   * path that verifies tokens (HTTP context, WebSocket `connection_init`).
   */
  useRevocations(revocations: SessionRevocations): void {
    this.ended = revocations;
  }

  /** The revocations attached with `useRevocations`, if any. */
  get revocations(): SessionRevocations | undefined {
    return this.ended;
  }

  /** Whether this process holds the signing key (only the customer subgraph needs it). */
  canIssue(): boolean {
    return this.keys.privateKey !== undefined;
  }

  /** A token for `customerId`; with `sessionId` it carries a `sid` claim and ends with that session. */
  async issue(customerId: string, scopes: readonly Scope[], sessionId?: string): Promise<{ token: string; expiresAt: Date }> {
    if (!this.keys.privateKey) throw new Error('this process holds no signing key');
    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.options.ttlSeconds;
    const token = await new SignJWT({ scope: scopes.join(' '), ...(sessionId ? { sid: sessionId } : {}) })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setSubject(customerId)
      .setIssuer(this.options.issuer)
      .setAudience(this.options.issuer)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(this.keys.privateKey);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /** Never throws: a bad token becomes an `invalid` viewer, refused where access needs one. */
  async viewerFromAuthorization(header: string | undefined | null): Promise<Viewer> {
    if (!header) return { kind: 'anonymous' };
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    if (!match?.[1]) return { kind: 'invalid', reason: 'The Authorization header must be "Bearer <token>".' };
    try {
      const payload = await this.verify(match[1]);
      if (typeof payload.sub !== 'string') return { kind: 'invalid', reason: 'The access token names no subject.' };
      const sessionId = typeof payload.sid === 'string' ? payload.sid : undefined;
      if (sessionId !== undefined && this.ended?.hasEnded(sessionId)) {
        return { kind: 'invalid', reason: SESSION_ENDED };
      }
      const scopes = String(payload.scope ?? '')
        .split(' ')
        .filter((s): s is Scope => s === 'customer' || s === 'admin');
      return {
        kind: 'customer',
        customerId: payload.sub,
        scopes,
        ...(typeof payload.exp === 'number' ? { expiresAt: new Date(payload.exp * 1000) } : {}),
        ...(sessionId !== undefined ? { sessionId } : {}),
      };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) return { kind: 'invalid', reason: 'The access token has expired.' };
      return { kind: 'invalid', reason: 'The access token is not valid.' };
    }
  }

  /** The token's claims once its signature, algorithm, issuer, audience and expiry hold; throws otherwise. */
  private async verify(token: string): Promise<JWTPayload> {
    const known = this.verified.get(token);
    const now = Date.now();
    if (known && typeof known.exp === 'number' && known.exp * 1000 > now) return known;
    // Unknown, or expired since: jose says which.
    const { payload } = await jwtVerify(token, this.keys.publicKey, { algorithms: [ALG], issuer: this.options.issuer, audience: this.options.issuer });
    if (typeof payload.exp === 'number') this.verified.set(token, payload, { ttl: Math.max(1, payload.exp * 1000 - now) });
    return payload;
  }
}

/** Longest delay `setTimeout` honours; a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How often a long-lived connection looks whether its token's session has ended, in ms. */
export const SESSION_CHECK_MS = 1000;

/** Why a connection's credentials stopped being good. */
export type CredentialsEnd = 'expired' | 'session-ended';

/**
 * Runs `onEnd` once the viewer's credentials stop being good (never for anonymous callers):
 * when the token expires, or, given the process's `revocations`, when its session ends
 * (looked up in memory every SESSION_CHECK_MS). Long-lived connections end when their
 * credentials do. Returns a function that cancels it.
 */
export function whenExpired(viewer: Viewer, onEnd: (why: CredentialsEnd) => void, revocations?: Pick<SessionRevocations, 'hasEnded'>): () => void {
  if (viewer.kind !== 'customer') return () => {};
  let timer: NodeJS.Timeout | undefined;
  let check: NodeJS.Timeout | undefined;
  let ended = false;
  const end = (why: CredentialsEnd) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    clearInterval(check);
    onEnd(why);
  };
  const at = viewer.expiresAt?.getTime();
  const arm = () => {
    if (at === undefined) return;
    const delay = at - Date.now();
    if (delay <= 0) return end('expired');
    timer = setTimeout(arm, Math.min(delay, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  const { sessionId } = viewer;
  if (revocations && sessionId !== undefined && !ended) {
    check = setInterval(() => {
      if (revocations.hasEnded(sessionId)) end('session-ended');
    }, SESSION_CHECK_MS);
    check.unref();
  }
  return () => {
    clearTimeout(timer);
    clearInterval(check);
  };
}

/** The signed-in customer, or UNAUTHENTICATED. */
export function requireCustomer(viewer: Viewer): { customerId: string; scopes: readonly Scope[] } {
  if (viewer.kind === 'customer') return viewer;
  throw unauthenticated(viewer.kind === 'invalid' ? viewer.reason : 'Sign in to do this.');
}

export function isAdmin(viewer: Viewer): boolean {
  return viewer.kind === 'customer' && viewer.scopes.includes('admin');
}

/** An admin, or UNAUTHENTICATED / FORBIDDEN. */
export function requireAdmin(viewer: Viewer): void {
  requireCustomer(viewer);
  if (!isAdmin(viewer)) throw forbidden('This needs the admin scope.');
}

/** The owner of a resource or an admin, or UNAUTHENTICATED / FORBIDDEN. */
export function requireOwnerOrAdmin(viewer: Viewer, ownerId: string): void {
  const customer = requireCustomer(viewer);
  if (customer.customerId !== ownerId && !isAdmin(viewer)) throw forbidden();
}

/** A fresh Ed25519 key pair as PEM text, as `JWT_PRIVATE_KEY` / `JWT_PUBLIC_KEY` take it. */
export function generateTokenPems(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A fresh key pair held in memory only. */
export async function generateTokenKeys(): Promise<TokenKeys> {
  const pair = generateTokenPems();
  return { privateKey: await importPKCS8(pair.privateKey, ALG), publicKey: await importSPKI(pair.publicKey, ALG) };
}

/**
 * Keys from `JWT_PRIVATE_KEY` / `JWT_PUBLIC_KEY`; without them (never in production)
 * a pair is generated once under `<dataDir>/keys` so every local process agrees.
 */
export async function loadTokenKeys(env: {
  JWT_PRIVATE_KEY?: string;
  JWT_PUBLIC_KEY?: string;
  DATA_DIR: string;
}): Promise<TokenKeys> {
  let pair: { privateKey?: string; publicKey: string };
  if (env.JWT_PUBLIC_KEY) {
    pair = { publicKey: env.JWT_PUBLIC_KEY, ...(env.JWT_PRIVATE_KEY ? { privateKey: env.JWT_PRIVATE_KEY } : {}) };
  } else {
    const file = path.resolve(env.DATA_DIR, 'keys', 'jwt-ed25519.json');
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      try {
        fs.writeFileSync(file, JSON.stringify(generateTokenPems()), { mode: 0o600, flag: 'wx' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    pair = JSON.parse(fs.readFileSync(file, 'utf8'));
  }
  const unescape = (pem: string) => pem.replace(/\\n/g, '\n');
  return {
    publicKey: await importSPKI(unescape(pair.publicKey), ALG),
    ...(pair.privateKey ? { privateKey: await importPKCS8(unescape(pair.privateKey), ALG) } : {}),
  };
}
