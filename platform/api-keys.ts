/**
 * Partner API keys between the process that issues them (the customer subgraph) and the
 * processes that check them (every router replica).
 *
 * The customer subgraph's store is the record. Routers keep the active keys in memory,
 * loaded from the customer subgraph's internal endpoint at start and again every few
 * seconds; a key created or revoked is also announced on the pub/sub at once. The internal
 * endpoints answer only to the service token (SERVICE_TOKEN), which no client holds.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { Config } from './config';

/** The pub/sub topic of key changes. */
export const API_KEYS_TOPIC = 'api-keys:changed';

/** The customer subgraph's internal endpoint listing the active keys (GET). */
export const ACTIVE_API_KEYS_PATH = '/internal/api-keys';

/** The customer subgraph's internal endpoint taking the routers' record of key use (POST). */
export const API_KEY_USE_PATH = '/internal/api-keys/use';

/** What every secret starts with, so a leaked one is recognised by secret scanners and people. */
export const API_KEY_SECRET_PREFIX = 'sk_live_';

/** A key as routers hold it: enough to check a secret and to size its cost bucket. */
export interface ActiveApiKey {
  id: string;
  name: string;
  /** SHA-256 of the secret, base64url. */
  hash: string;
  maximumAvailable: number;
  restoreRate: number;
}

/** What is announced when a key is created or revoked. */
export type ApiKeyChange = { kind: 'created'; key: ActiveApiKey } | { kind: 'revoked'; id: string };

/** What the routers report about key use: the latest use of each key, epoch ms. */
export interface ApiKeyUse {
  use: Record<string, number>;
}

/** The stored form of a secret. */
export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** A new secret: the prefix and 256 random bits. */
export function newApiKeySecret(): string {
  return `${API_KEY_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function isActiveApiKey(value: unknown): value is ActiveApiKey {
  const key = value as ActiveApiKey;
  return (
    typeof key === 'object' &&
    key !== null &&
    typeof key.id === 'string' &&
    typeof key.name === 'string' &&
    typeof key.hash === 'string' &&
    Number.isFinite(key.maximumAvailable) &&
    Number.isFinite(key.restoreRate)
  );
}

export function isApiKeyChange(value: unknown): value is ApiKeyChange {
  const change = value as ApiKeyChange;
  if (typeof change !== 'object' || change === null) return false;
  if (change.kind === 'created') return isActiveApiKey(change.key);
  return change.kind === 'revoked' && typeof change.id === 'string';
}

/**
 * The token processes show each other on internal endpoints: SERVICE_TOKEN, or (never in
 * production) one generated once under `<DATA_DIR>/keys`, so local processes agree.
 */
export function serviceToken(config: Pick<Config, 'SERVICE_TOKEN' | 'NODE_ENV' | 'DATA_DIR'>): string {
  if (config.SERVICE_TOKEN) return config.SERVICE_TOKEN;
  if (config.NODE_ENV === 'production') throw new Error('SERVICE_TOKEN is required when NODE_ENV=production');
  const file = path.resolve(config.DATA_DIR, 'keys', 'service-token');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      fs.writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return fs.readFileSync(file, 'utf8').trim();
}

/** Whether the request carries `Bearer <token>`: compared in constant time, so it cannot be guessed by timing. */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  const given = Buffer.from(req.headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
