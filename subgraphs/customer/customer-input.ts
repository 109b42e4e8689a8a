import { z } from 'zod';
import { parseAddress, parseInput, type Address, type AddressInput } from '../../platform/address';

/** Password length bounds, in characters. Long enough to resist guessing, short enough to hash cheaply. */
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;
/** What a wrong current password is told when changing it. */
export const WRONG_CURRENT = 'The current password is wrong.';
/** Name length bounds, in characters, after trimming. */
export const NAME_MAX = 100;

/** Trimmed and lower-cased, so `Ann@Example.com ` and `ann@example.com` are one account. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

const email = z
  .string()
  .transform(normalizeEmail)
  .pipe(z.email('email must be a valid email address.').max(254, 'email must be at most 254 characters.'));

const passwordNamed = (field: string) =>
  z
    .string()
    .min(PASSWORD_MIN, `${field} must be at least ${PASSWORD_MIN} characters.`)
    .max(PASSWORD_MAX, `${field} must be at most ${PASSWORD_MAX} characters.`);

const password = passwordNamed('password');

const name = z
  .string()
  .trim()
  .min(1, 'name must not be empty.')
  .max(NAME_MAX, `name must be at most ${NAME_MAX} characters.`);

const registerSchema = z.object({ email, password, name });

export type RegisterFields = z.output<typeof registerSchema>;
export type AddressFields = Address;
export type { AddressInput };

/** A valid sign-up, normalized, or BAD_USER_INPUT naming the field. */
export function parseRegisterInput(input: { email: string; password: string; name: string }): RegisterFields {
  return parseInput(registerSchema, input);
}

/** A valid address, trimmed, country upper-cased, blanks as null, or BAD_USER_INPUT naming the field. */
export function parseAddressInput(input: AddressInput): AddressFields {
  return parseAddress(input);
}

const changePasswordSchema = z.object({ currentPassword: z.string(), newPassword: passwordNamed('newPassword') });

/** A password change with a valid new password, or BAD_USER_INPUT naming the field. */
export function parseChangePasswordInput(input: { currentPassword: string; newPassword: string }): z.output<typeof changePasswordSchema> {
  return parseInput(changePasswordSchema, input);
}
