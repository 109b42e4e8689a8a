/** What makes cart and checkout input valid, and the fingerprint that tells a retried checkout from a new one. */
import { createHash } from 'node:crypto';
import { parseAddress, type AddressInput } from '../../platform/address';
import { badUserInput } from '../../platform/errors';
import { MAX_LINE_QUANTITY } from './pricing';
import type { ShippingAddressRecord } from './store/port';

/** Longest idempotency key a client may send, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
/** Longest payment token accepted, in characters; processor tokens are far shorter. */
export const MAX_PAYMENT_TOKEN_LENGTH = 500;
/** Longest product id accepted; ids are UUIDs, this only bounds what reaches the catalog. */
export const MAX_PRODUCT_ID_LENGTH = 100;

/** A line as a client sends it (GraphQL `CartLineInput`). */
export interface CartLineInput {
  productId: string;
  quantity: number;
}

export type { AddressInput };

/** A checkout as a client sends it (GraphQL `PlaceOrderInput`). */
export interface PlaceOrderInput {
  idempotencyKey: string;
  shippingAddress: AddressInput;
  paymentToken: string;
}

/** A checkout after validation: the address trimmed and its country upper-cased. */
export interface Checkout {
  idempotencyKey: string;
  shippingAddress: ShippingAddressRecord;
  paymentToken: string;
}

function requiredText(value: unknown, field: string, max: number): string {
  const text = typeof value === 'string' ? value.trim() : '';
  if (!text) throw badUserInput(`${field} must not be empty.`, { field });
  if (text.length > max) throw badUserInput(`${field} must be at most ${max} characters.`, { field });
  return text;
}

/**
 * An address as an order keeps it, by the same rules as the customer's address book (fields
 * trimmed and bounded, blanks as null, an assigned ISO 3166-1 alpha-2 country, upper-cased).
 * BAD_USER_INPUT names the first field that is wrong, under `field`.
 */
export function parseShippingAddress(address: AddressInput, field: string): ShippingAddressRecord {
  return parseAddress(address, field);
}

/**
 * A cart line as sent: a product id and a whole number of units, from `minQuantity`
 * (1 to add, 0 to set, where 0 removes) to 99. BAD_USER_INPUT names the field.
 */
export function parseCartLineInput(input: CartLineInput, minQuantity: 0 | 1, field = 'input'): CartLineInput {
  const productId = requiredText(input.productId, `${field}.productId`, MAX_PRODUCT_ID_LENGTH);
  const { quantity } = input;
  if (!Number.isInteger(quantity) || quantity < minQuantity || quantity > MAX_LINE_QUANTITY) {
    throw badUserInput(`${field}.quantity must be a whole number from ${minQuantity} to ${MAX_LINE_QUANTITY}.`, {
      field: `${field}.quantity`,
    });
  }
  return { productId, quantity };
}

/** A checkout request, validated; BAD_USER_INPUT names the first field that is wrong. */
export function parsePlaceOrderInput(input: PlaceOrderInput, field = 'input'): Checkout {
  const key = input.idempotencyKey;
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw badUserInput(`${field}.idempotencyKey must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`, {
      field: `${field}.idempotencyKey`,
    });
  }
  const token = input.paymentToken;
  if (typeof token !== 'string' || !token.trim() || token.length > MAX_PAYMENT_TOKEN_LENGTH) {
    throw badUserInput(`${field}.paymentToken must be 1 to ${MAX_PAYMENT_TOKEN_LENGTH} characters.`, {
      field: `${field}.paymentToken`,
    });
  }
  return {
    idempotencyKey: key,
    shippingAddress: parseShippingAddress(input.shippingAddress, `${field}.shippingAddress`),
    paymentToken: token,
  };
}

/**
 * The fingerprint of a checkout: sha256 over the key, the validated address, the payment
 * token and what was in the cart (product and units, in product order). Prices are not part
 * of it: the server sets them. A retry of an order already placed is checked against the
 * order's own lines, which are the cart it emptied.
 */
export function checkoutHash(checkout: Checkout, cart: readonly CartLineInput[]): string {
  const address = checkout.shippingAddress;
  const canonical = JSON.stringify([
    checkout.idempotencyKey,
    [address.line1, address.line2, address.city, address.region, address.postalCode, address.country],
    checkout.paymentToken,
    [...cart]
      .map((line): [string, number] => [line.productId, line.quantity])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}
