import { badUserInput } from '../../platform/errors';
import { linesTotal, multiplyMoney, parseMinorUnits, sumMoney, type Money } from '../../platform/money';

/** Fewest units of a product one line may hold. */
export const MIN_LINE_QUANTITY = 1;
/** Most units of a product one line may hold. */
export const MAX_LINE_QUANTITY = 99;
/** Most lines one order may hold; with the caps below it keeps every sum an exact integer. */
export const MAX_ORDER_LINES = 100;
/** Largest unit price and order total in minor units: the store keeps them in 32-bit integers. */
export const MAX_AMOUNT = 2_147_483_647;

/** What pricing needs of a line: units and the price of one unit in minor units of the order's currency. */
export interface PricedLineInput {
  productId: string;
  quantity: number;
  unitPriceAmount: number;
}

/** The price of a line: unit price times quantity, in integer minor units. */
export function lineTotal(unitPrice: Money, quantity: number): Money {
  return multiplyMoney(unitPrice, quantity);
}

/** Sum of the line totals; an order's total is always this, never a figure from input. */
export function orderTotal(lines: readonly Pick<PricedLineInput, 'quantity' | 'unitPriceAmount'>[], currency: string): Money {
  return linesTotal(lines, currency);
}

/**
 * The rules every order's lines obey, wherever they come from (checkout or import):
 * at least one line, a product on each, 1–99 units, a non-negative integer unit price.
 * BAD_USER_INPUT names the first field that breaks one.
 */
export function checkOrderLines(lines: readonly PricedLineInput[], field = 'lines'): void {
  if (lines.length === 0) throw badUserInput('An order needs at least one line.', { field });
  if (lines.length > MAX_ORDER_LINES) {
    throw badUserInput(`An order holds at most ${MAX_ORDER_LINES} lines.`, { field });
  }
  lines.forEach((line, index) => {
    const at = `${field}[${index}]`;
    if (typeof line.productId !== 'string' || !line.productId.trim()) {
      throw badUserInput(`${at}.productId must not be empty.`, { field: `${at}.productId` });
    }
    if (!Number.isInteger(line.quantity) || line.quantity < MIN_LINE_QUANTITY || line.quantity > MAX_LINE_QUANTITY) {
      throw badUserInput(`${at}.quantity must be a whole number from ${MIN_LINE_QUANTITY} to ${MAX_LINE_QUANTITY}.`, {
        field: `${at}.quantity`,
      });
    }
    parseMinorUnits(line.unitPriceAmount, `${at}.unitPriceAmount`);
    if (line.unitPriceAmount > MAX_AMOUNT) {
      throw badUserInput(`${at}.unitPriceAmount must be at most ${MAX_AMOUNT}.`, { field: `${at}.unitPriceAmount` });
    }
  });
}

/** Checks the lines and returns the order's total; BAD_USER_INPUT when a rule is broken or the total is too large. */
export function priceOrder(lines: readonly PricedLineInput[], currency: string, field = 'lines'): Money {
  checkOrderLines(lines, field);
  const total = orderTotal(lines, currency);
  if (total.amount > MAX_AMOUNT) {
    throw badUserInput(`The order total must be at most ${MAX_AMOUNT} minor units.`, { field });
  }
  return total;
}

/** A cart line as held: a product and how many units. */
export interface CartItem {
  productId: string;
  quantity: number;
}

/** A cart line priced from the catalog. */
export interface PricedCartLine extends CartItem {
  unitPrice: Money;
  lineTotal: Money;
}

/**
 * Prices cart lines at the catalog's current prices, in cart order. Lines whose product the
 * catalog no longer has, or no longer sells (archived), are left out and listed in `missing`.
 * Every price must be in the shop's `currency`: a catalog in another currency is a
 * misconfiguration, not bad input.
 */
export function priceCart(
  items: readonly CartItem[],
  prices: ReadonlyMap<string, { price: Money; archived?: boolean }>,
  currency: string,
): { lines: PricedCartLine[]; subtotal: Money; missing: string[] } {
  const lines: PricedCartLine[] = [];
  const missing: string[] = [];
  for (const item of items) {
    const catalog = prices.get(item.productId);
    if (!catalog || catalog.archived) {
      missing.push(item.productId);
      continue;
    }
    if (catalog.price.currency !== currency) {
      throw new Error(`product ${item.productId} is priced in ${catalog.price.currency}, but the shop sells in ${currency}`);
    }
    lines.push({ ...item, unitPrice: catalog.price, lineTotal: lineTotal(catalog.price, item.quantity) });
  }
  return { lines, subtotal: sumMoney(lines.map((line) => line.lineTotal), currency), missing };
}
