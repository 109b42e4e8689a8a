import { z } from 'zod';
import { isCountryCode } from './countries';
import { badUserInput } from './errors';

/** Longest value of each address field, in characters, after trimming. */
export const ADDRESS_LIMITS = { line1: 200, line2: 200, city: 100, region: 100, postalCode: 20 } as const;

/** An address as every subgraph keeps it: trimmed, blanks as null, the country upper-cased. */
export interface Address {
  line1: string;
  line2: string | null;
  city: string;
  region: string | null;
  postalCode: string;
  country: string;
}

/** What a client may send for an address (GraphQL `AddressInput`). */
export interface AddressInput {
  line1: string;
  line2?: string | null;
  city: string;
  region?: string | null;
  postalCode: string;
  country: string;
}

const required = (field: keyof typeof ADDRESS_LIMITS) =>
  z
    .string(`${field} must be text.`)
    .trim()
    .min(1, `${field} must not be empty.`)
    .max(ADDRESS_LIMITS[field], `${field} must be at most ${ADDRESS_LIMITS[field]} characters.`);

/** Absent, null and blank all mean "none". */
const optional = (field: keyof typeof ADDRESS_LIMITS) =>
  z
    .string(`${field} must be text.`)
    .trim()
    .max(ADDRESS_LIMITS[field], `${field} must be at most ${ADDRESS_LIMITS[field]} characters.`)
    .nullish()
    .transform((value) => (value ? value : null));

const country = z
  .string('country must be text.')
  .transform((value) => value.trim().toUpperCase())
  .refine(isCountryCode, 'country must be an assigned ISO 3166-1 alpha-2 code, such as US or DE.');

const addressSchema = z.object({
  line1: required('line1'),
  line2: optional('line2'),
  city: required('city'),
  region: optional('region'),
  postalCode: required('postalCode'),
  country,
});

/**
 * Input checked against a zod schema, or BAD_USER_INPUT for the first problem, naming the
 * field under `extensions.field` (prefixed with `under.` when given) and in the message.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, under?: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const path = issue?.path.map(String).join('.') ?? '';
  const field = [under, path].filter(Boolean).join('.') || undefined;
  const message = issue?.message ?? 'The input is invalid.';
  // Messages name the field by its own path; under a prefix they name the full one.
  const named = under && path && message.startsWith(`${path} `) ? `${under}.${message}` : message;
  throw badUserInput(named, field ? { field } : undefined);
}

/**
 * A valid address (the customer's address book and an order's shipping address follow the
 * same rules), or BAD_USER_INPUT naming the first wrong field, under `under.` when given.
 */
export function parseAddress(input: AddressInput, under?: string): Address {
  return parseInput(addressSchema, input, under);
}
