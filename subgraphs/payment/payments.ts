import { createHash } from 'node:crypto';
import { badUserInput } from '../../platform/errors';
import { CURRENCY_CODE, linesTotal, money, type Money } from '../../platform/money';
import type { PaymentRecord } from './store/port';

/** A card as the shop keeps it: brand and last four digits, nothing more. */
export interface CardSummary {
  brand: string;
  last4: string;
}

const LAST4 = /^[0-9]{4}$/;
// A brand is a word such as "Visa"; a run of digits there means card data leaked into it.
const BRAND = /^[A-Za-z][A-Za-z .&-]{0,39}$/;

/** The card summary, or BAD_USER_INPUT when it holds anything but a brand name and four digits. */
export function cardSummary(card: CardSummary): CardSummary {
  const brand = card.brand.trim();
  if (!BRAND.test(brand)) throw badUserInput('The card brand must be a name such as Visa.', { field: 'brand' });
  if (!LAST4.test(card.last4)) throw badUserInput('last4 must be exactly the last four digits of the card.', { field: 'last4' });
  return { brand, last4: card.last4 };
}

/** The currency code, or BAD_USER_INPUT when it is not an ISO 4217 code. */
export function currencyCode(currency: string): string {
  if (!CURRENCY_CODE.test(currency)) throw badUserInput('currency must be an ISO 4217 code such as USD.', { field: 'currency' });
  return currency;
}

/** What an order costs: the sum of its lines' unit price times quantity, in minor units. */
export function orderAmount(lines: readonly { unitPriceAmount: number; quantity: number }[], currency: string): Money {
  return linesTotal(lines, currency);
}

/**
 * The id of an order's payment, the same on every run (a name-based UUID in the shape
 * of version 5), so a re-import finds the payments it already wrote.
 */
export function paymentIdForOrder(orderId: string): string {
  const bytes = createHash('sha1').update(`payment:${orderId}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** How the shop writes the brands processors name in lower case (`visa`); an unknown one is capitalized. */
const BRAND_NAMES: Record<string, string> = {
  visa: 'Visa',
  mastercard: 'Mastercard',
  amex: 'American Express',
  discover: 'Discover',
  diners: 'Diners Club',
  jcb: 'JCB',
  unionpay: 'UnionPay',
};

/**
 * The card summary of a processor's answer, in the shop's spelling (`cartes_bancaires` is
 * Cartes Bancaires); refuses anything that is not a brand and four digits, so no more card
 * data than that is ever stored.
 */
export function cardFromProcessor(brand: string, last4: string): CardSummary {
  const key = brand.trim().toLowerCase();
  const name = BRAND_NAMES[key] ?? key.replace(/_+/g, ' ').replace(/(^|\s)([a-z])/g, (_m, space: string, letter: string) => space + letter.toUpperCase());
  return cardSummary({ brand: name, last4 });
}

type Settled = Pick<PaymentRecord, 'status' | 'capturedAmount' | 'refundedAmount' | 'currency'>;

/** What was charged: null until the payment is captured (a refunded payment, or one whose refund failed, was captured first). */
export function capturedAmountOf(payment: Settled): Money | null {
  return payment.status === 'CAPTURED' || payment.status === 'REFUNDED' || payment.status === 'REFUND_FAILED'
    ? money(payment.capturedAmount, payment.currency)
    : null;
}

/** What went back to the card: null unless the payment is refunded. */
export function refundedAmountOf(payment: Settled): Money | null {
  return payment.status === 'REFUNDED' ? money(payment.refundedAmount, payment.currency) : null;
}
