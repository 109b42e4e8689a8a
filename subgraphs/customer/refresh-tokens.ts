import { createHash, randomBytes } from 'node:crypto';

/** Random bits in a refresh token: too many to guess, so a fast hash stores it safely. */
const REFRESH_TOKEN_BYTES = 32;

/**
 * How a refresh token is stored: SHA-256, base64url. A 256-bit random secret cannot be
 * guessed from its hash, so a slow password hash would only cost time on every refresh.
 */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** A new opaque refresh token (256 random bits, base64url) and its stored hash. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(REFRESH_TOKEN_BYTES).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}
