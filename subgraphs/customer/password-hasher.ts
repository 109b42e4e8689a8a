import { hash, verify, type Algorithm, type Options } from '@node-rs/argon2';

/** Turns passwords into salted hashes and checks them; the domain never sees the algorithm. */
export interface PasswordHasher {
  /** A PHC string with a fresh random salt, so equal passwords hash differently. */
  hash(password: string): Promise<string>;
  /** Whether `password` produces `hashed`. */
  verify(hashed: string, password: string): Promise<boolean>;
}

// `Algorithm` is an ambient const enum, which isolated modules cannot read at run time.
const ARGON2ID = 2 as Algorithm.Argon2id;

/** argon2id with the OWASP password-storage minimum: 19 MiB, 2 passes, 1 lane. */
export const OWASP_ARGON2ID: Options = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** argon2id on libuv's thread pool; default parameters `OWASP_ARGON2ID`. */
export function argon2idHasher(options: Options = OWASP_ARGON2ID): PasswordHasher {
  return {
    hash: (password) => hash(password, options),
    verify: (hashed, password) => verify(hashed, password),
  };
}
