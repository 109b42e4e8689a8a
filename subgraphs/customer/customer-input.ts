import { z } from 'zod';
import { badUserInput } from '../../platform/errors';
import { isCountryCode } from './countries';

/** Password length bounds, in characters. Long enough to resist guessing, short enough to hash cheaply. */
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;
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

const password = z
  .string()
  .min(PASSWORD_MIN, `password must be at least ${PASSWORD_MIN} characters.`)
  .max(PASSWORD_MAX, `password must be at most ${PASSWORD_MAX} characters.`);

const name = z
  .string()
  .trim()
  .min(1, 'name must not be empty.')
  .max(NAME_MAX, `name must be at most ${NAME_MAX} characters.`);

const required = (field: string, max: number) =>
  z.string().trim().min(1, `${field} must not be empty.`).max(max, `${field} must be at most ${max} characters.`);

/** Absent, null and blank all mean "none". */
const optional = (field: string, max: number) =>
  z
    .string()
    .trim()
    .max(max, `${field} must be at most ${max} characters.`)
    .nullish()
    .transform((value) => (value ? value : null));

const country = z
  .string()
  .transform((value) => value.trim().toUpperCase())
  .refine(isCountryCode, 'country must be an assigned ISO 3166-1 alpha-2 code, such as US or DE.');

const registerSchema = z.object({ email, password, name });

const addressSchema = z.object({
  line1: required('line1', 200),
  line2: optional('line2', 200),
  city: required('city', 100),
  region: optional('region', 100),
  postalCode: required('postalCode', 20),
  country,
});

export type RegisterFields = z.output<typeof registerSchema>;
export type AddressFields = z.output<typeof addressSchema>;

/** What a client may send for an address (GraphQL `AddressInput`). */
export type AddressInput = z.input<typeof addressSchema>;

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const field = issue?.path.map(String).join('.') || undefined;
  throw badUserInput(issue?.message ?? 'The input is invalid.', field ? { field } : undefined);
}

/** A valid sign-up, normalized, or BAD_USER_INPUT naming the field. */
export function parseRegisterInput(input: { email: string; password: string; name: string }): RegisterFields {
  return parse(registerSchema, input);
}

/** A valid address, trimmed, country upper-cased, blanks as null, or BAD_USER_INPUT naming the field. */
export function parseAddressInput(input: AddressInput): AddressFields {
  return parse(addressSchema, input);
}
