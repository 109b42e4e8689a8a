/**
 * Choosing warehouses for an order's lines: pure, so every rule is tested without a
 * database. The reservation handler calls it between locking the stock rows and
 * writing the reservation.
 */

/** Units of a product an order asks for. */
export interface RequestedLine {
  productId: string;
  quantity: number;
}

/** Units of a product one warehouse can still promise (on hand minus reserved). */
export interface WarehouseStock {
  productId: string;
  warehouseId: string;
  available: number;
}

/** Units of a product taken from one warehouse. */
export interface Allocation {
  productId: string;
  warehouseId: string;
  quantity: number;
}

/** A line the warehouses together cannot fill; `available` is what they hold in total. */
export interface UnavailableLine {
  productId: string;
  requested: number;
  available: number;
}

export type AllocationResult =
  | { ok: true; allocations: Allocation[] }
  | { ok: false; unavailable: UnavailableLine[] };

/**
 * Allocates every line or none. Lines of the same product are summed first. For each
 * product the warehouses are taken fullest first (ties by warehouse id): the fullest
 * one holds the whole line whenever any single warehouse can, and when none can the
 * line is split over as few warehouses as possible. When any product falls short the
 * result lists every short product, in the order of the lines, and allocates nothing.
 *
 * Throws RangeError on a quantity that is not a positive whole number, a negative or
 * fractional availability, or a warehouse listed twice for one product: those are
 * bugs upstream, not shortages.
 */
export function allocate(lines: readonly RequestedLine[], stock: readonly WarehouseStock[]): AllocationResult {
  const requested = new Map<string, number>();
  for (const line of lines) {
    if (!Number.isSafeInteger(line.quantity) || line.quantity <= 0) {
      throw new RangeError(`quantity of ${line.productId} must be a positive whole number, not ${line.quantity}`);
    }
    requested.set(line.productId, (requested.get(line.productId) ?? 0) + line.quantity);
  }

  const byProduct = new Map<string, WarehouseStock[]>();
  const seen = new Set<string>();
  for (const entry of stock) {
    if (!Number.isSafeInteger(entry.available) || entry.available < 0) {
      throw new RangeError(`available units of ${entry.productId} in ${entry.warehouseId} must be a whole number >= 0`);
    }
    const key = `${entry.productId}\u0000${entry.warehouseId}`;
    if (seen.has(key)) throw new RangeError(`${entry.productId} is listed twice for warehouse ${entry.warehouseId}`);
    seen.add(key);
    if (entry.available === 0 || !requested.has(entry.productId)) continue;
    const list = byProduct.get(entry.productId);
    if (list) list.push(entry);
    else byProduct.set(entry.productId, [entry]);
  }

  const allocations: Allocation[] = [];
  const unavailable: UnavailableLine[] = [];
  for (const [productId, quantity] of requested) {
    const candidates = (byProduct.get(productId) ?? []).sort(
      (a, b) => b.available - a.available || (a.warehouseId < b.warehouseId ? -1 : a.warehouseId > b.warehouseId ? 1 : 0),
    );
    const total = candidates.reduce((sum, c) => sum + c.available, 0);
    if (total < quantity) {
      unavailable.push({ productId, requested: quantity, available: total });
      continue;
    }
    let remaining = quantity;
    for (const candidate of candidates) {
      if (remaining === 0) break;
      const take = Math.min(remaining, candidate.available);
      allocations.push({ productId, warehouseId: candidate.warehouseId, quantity: take });
      remaining -= take;
    }
  }
  return unavailable.length > 0 ? { ok: false, unavailable } : { ok: true, allocations };
}
