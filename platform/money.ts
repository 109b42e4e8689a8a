import { badUserInput } from './errors';

/** An amount in integer minor units (cents) of an ISO 4217 currency. Never a float. */
export interface Money {
  amount: number;
  currency: string;
}

/** The shape of an ISO 4217 code: three upper-case letters. */
export const CURRENCY_CODE = /^[A-Z]{3}$/;

const digitsCache = new Map<string, number>();

/** Minor-unit digits of a currency: 2 for USD, 0 for JPY, 3 for KWD. */
export function minorDigits(currency: string): number {
  let digits = digitsCache.get(currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    digitsCache.set(currency, digits);
  }
  return digits;
}

export function money(amount: number, currency: string): Money {
  if (!Number.isSafeInteger(amount)) throw new Error(`money amount must be an integer of minor units, got ${amount}`);
  return { amount, currency };
}

/** Exact decimal text of an amount: 12345 USD → "123.45". */
export function toDecimalString({ amount, currency }: Money): string {
  const digits = minorDigits(currency);
  if (digits === 0) return String(amount);
  const sign = amount < 0 ? '-' : '';
  const text = String(Math.abs(amount)).padStart(digits + 1, '0');
  return `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

const formatters = new Map<string, Intl.NumberFormat>();

/** Display text for people: 12345 USD → "$123.45". Formats a decimal string, never a float. */
export function formatMoney(value: Money, locale = 'en-US'): string {
  const key = `${locale}:${value.currency}`;
  let formatter = formatters.get(key);
  if (!formatter) {
    formatter = new Intl.NumberFormat(locale, { style: 'currency', currency: value.currency });
    formatters.set(key, formatter);
  }
  return formatter.format(toDecimalString(value) as unknown as number);
}

export function multiplyMoney(value: Money, quantity: number): Money {
  if (!Number.isSafeInteger(quantity)) throw new Error(`quantity must be an integer, got ${quantity}`);
  return money(value.amount * quantity, value.currency);
}

/** Sum of amounts in one currency; an empty list is zero of `currency`. */
export function sumMoney(values: readonly Money[], currency: string): Money {
  let amount = 0;
  for (const value of values) {
    if (value.currency !== currency) throw new Error(`cannot add ${value.currency} to ${currency}`);
    amount += value.amount;
  }
  return money(amount, currency);
}

/** What lines cost together: each unit price times its quantity, summed, in minor units of `currency`. */
export function linesTotal(lines: readonly { unitPriceAmount: number; quantity: number }[], currency: string): Money {
  return sumMoney(
    lines.map((line) => multiplyMoney(money(line.unitPriceAmount, currency), line.quantity)),
    currency,
  );
}

/** Validates a client-sent amount of minor units. */
export function parseMinorUnits(amount: number, field: string): number {
  if (!Number.isSafeInteger(amount) || amount < 0) throw badUserInput(`${field} must be a non-negative integer of minor units.`, { field });
  return amount;
}

/** Resolvers for the shared `Money` type; every subgraph that returns Money mounts them. */
export const moneyResolvers = {
  Money: {
    formatted: (value: Money) => formatMoney(value),
  },
};
