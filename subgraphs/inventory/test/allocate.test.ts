import { allocate, type Allocation, type RequestedLine, type WarehouseStock } from '../allocate';

const stock = (productId: string, warehouseId: string, available: number): WarehouseStock => ({ productId, warehouseId, available });
const line = (productId: string, quantity: number): RequestedLine => ({ productId, quantity });

describe('allocate', () => {
  it('takes a line from the one warehouse that can hold it all', () => {
    expect(allocate([line('p', 3)], [stock('p', 'w1', 2), stock('p', 'w2', 5)])).toEqual({
      ok: true,
      allocations: [{ productId: 'p', warehouseId: 'w2', quantity: 3 }],
    });
  });

  it('prefers the fullest of several warehouses that each hold the whole line', () => {
    expect(allocate([line('p', 2)], [stock('p', 'w1', 4), stock('p', 'w2', 9), stock('p', 'w3', 3)])).toEqual({
      ok: true,
      allocations: [{ productId: 'p', warehouseId: 'w2', quantity: 2 }],
    });
  });

  it('takes exactly what a warehouse holds when the line equals its stock', () => {
    expect(allocate([line('p', 5)], [stock('p', 'w1', 5)])).toEqual({
      ok: true,
      allocations: [{ productId: 'p', warehouseId: 'w1', quantity: 5 }],
    });
  });

  it('splits a line no warehouse holds alone, fullest first', () => {
    expect(allocate([line('p', 10)], [stock('p', 'w1', 3), stock('p', 'w2', 6), stock('p', 'w3', 4)])).toEqual({
      ok: true,
      allocations: [
        { productId: 'p', warehouseId: 'w2', quantity: 6 },
        { productId: 'p', warehouseId: 'w3', quantity: 4 },
      ],
    });
  });

  it('uses every warehouse when the line needs all the stock there is', () => {
    const result = allocate([line('p', 6)], [stock('p', 'w1', 1), stock('p', 'w2', 2), stock('p', 'w3', 3)]);
    expect(result).toEqual({
      ok: true,
      allocations: [
        { productId: 'p', warehouseId: 'w3', quantity: 3 },
        { productId: 'p', warehouseId: 'w2', quantity: 2 },
        { productId: 'p', warehouseId: 'w1', quantity: 1 },
      ],
    });
  });

  it('breaks ties between equally full warehouses by warehouse id, whatever the input order', () => {
    const expected = { ok: true, allocations: [{ productId: 'p', warehouseId: 'a', quantity: 4 }] };
    expect(allocate([line('p', 4)], [stock('p', 'b', 4), stock('p', 'a', 4)])).toEqual(expected);
    expect(allocate([line('p', 4)], [stock('p', 'a', 4), stock('p', 'b', 4)])).toEqual(expected);
  });

  it('ignores warehouses with nothing available and stock of other products', () => {
    expect(allocate([line('p', 2)], [stock('p', 'w1', 0), stock('q', 'w2', 50), stock('p', 'w3', 2)])).toEqual({
      ok: true,
      allocations: [{ productId: 'p', warehouseId: 'w3', quantity: 2 }],
    });
  });

  it('allocates each product of a multi-line order independently', () => {
    expect(
      allocate([line('a', 1), line('b', 7)], [stock('a', 'w1', 1), stock('b', 'w1', 5), stock('b', 'w2', 4), stock('a', 'w2', 9)]),
    ).toEqual({
      ok: true,
      allocations: [
        { productId: 'a', warehouseId: 'w2', quantity: 1 },
        { productId: 'b', warehouseId: 'w1', quantity: 5 },
        { productId: 'b', warehouseId: 'w2', quantity: 2 },
      ],
    });
  });

  it('sums lines of the same product before choosing warehouses', () => {
    expect(allocate([line('p', 2), line('p', 3)], [stock('p', 'w1', 4), stock('p', 'w2', 5)])).toEqual({
      ok: true,
      allocations: [{ productId: 'p', warehouseId: 'w2', quantity: 5 }],
    });
    expect(allocate([line('p', 3), line('p', 3)], [stock('p', 'w1', 5)])).toEqual({
      ok: false,
      unavailable: [{ productId: 'p', requested: 6, available: 5 }],
    });
  });

  it('fails a product short by one unit, reporting what there is', () => {
    expect(allocate([line('p', 7)], [stock('p', 'w1', 3), stock('p', 'w2', 3)])).toEqual({
      ok: false,
      unavailable: [{ productId: 'p', requested: 7, available: 6 }],
    });
  });

  it('fails a product nobody stocks with zero available', () => {
    expect(allocate([line('p', 1)], [])).toEqual({ ok: false, unavailable: [{ productId: 'p', requested: 1, available: 0 }] });
    expect(allocate([line('p', 1)], [stock('p', 'w1', 0)])).toEqual({
      ok: false,
      unavailable: [{ productId: 'p', requested: 1, available: 0 }],
    });
  });

  it('allocates nothing when any line falls short, and lists every short line in line order', () => {
    const result = allocate(
      [line('c', 2), line('a', 1), line('b', 4)],
      [stock('a', 'w1', 10), stock('b', 'w1', 1), stock('b', 'w2', 2), stock('c', 'w1', 1)],
    );
    expect(result).toEqual({
      ok: false,
      unavailable: [
        { productId: 'c', requested: 2, available: 1 },
        { productId: 'b', requested: 4, available: 3 },
      ],
    });
    expect('allocations' in result).toBe(false);
  });

  it('allocates nothing for an order without lines', () => {
    expect(allocate([], [stock('p', 'w1', 3)])).toEqual({ ok: true, allocations: [] });
  });

  it('refuses quantities that are not positive whole numbers', () => {
    for (const quantity of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => allocate([line('p', quantity)], [stock('p', 'w1', 5)])).toThrow(RangeError);
    }
  });

  it('refuses negative or fractional availability and a warehouse listed twice', () => {
    expect(() => allocate([line('p', 1)], [stock('p', 'w1', -1)])).toThrow(RangeError);
    expect(() => allocate([line('p', 1)], [stock('p', 'w1', 0.5)])).toThrow(RangeError);
    expect(() => allocate([line('p', 1)], [stock('p', 'w1', 1), stock('p', 'w1', 2)])).toThrow(RangeError);
  });

  it('does not reorder or change the stock it was given', () => {
    const given = [stock('p', 'w1', 1), stock('p', 'w2', 9)];
    const copy = given.map((s) => ({ ...s }));
    allocate([line('p', 5)], given);
    expect(given).toEqual(copy);
  });

  describe('on random orders and stock', () => {
    // A small deterministic generator, so a failure reproduces.
    function random(seed: number) {
      let state = seed >>> 0;
      return (below: number) => {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        return state % below;
      };
    }

    /** The fewest warehouses that can together hold `quantity`, by brute force over subsets. */
    function fewestWarehouses(quantity: number, available: number[]): number {
      let best = Infinity;
      for (let mask = 1; mask < 1 << available.length; mask++) {
        let sum = 0;
        let count = 0;
        available.forEach((units, i) => {
          if (mask & (1 << i)) {
            sum += units;
            count += 1;
          }
        });
        if (sum >= quantity) best = Math.min(best, count);
      }
      return best;
    }

    it('never over-allocates, fills every line exactly, uses the fewest warehouses, and fails only when stock is short', () => {
      const next = random(20240611);
      for (let run = 0; run < 2000; run++) {
        const products = ['a', 'b', 'c'].slice(0, 1 + next(3));
        const warehouses = ['w1', 'w2', 'w3', 'w4'].slice(0, 1 + next(4));
        const stockList: WarehouseStock[] = [];
        for (const p of products) for (const w of warehouses) if (next(4) > 0) stockList.push(stock(p, w, next(6)));
        const lines = products.filter(() => next(5) > 0).map((p) => line(p, 1 + next(12)));
        const result = allocate(lines, stockList);

        const short = lines.filter((l) => {
          const total = stockList.filter((s) => s.productId === l.productId).reduce((sum, s) => sum + s.available, 0);
          return total < l.quantity;
        });
        expect(result.ok).toBe(short.length === 0);
        if (!result.ok) {
          expect(result.unavailable.map((u) => u.productId)).toEqual(short.map((l) => l.productId));
          continue;
        }
        const allocations: Allocation[] = result.allocations;
        for (const a of allocations) {
          expect(a.quantity).toBeGreaterThan(0);
          const held = stockList.find((s) => s.productId === a.productId && s.warehouseId === a.warehouseId);
          expect(a.quantity).toBeLessThanOrEqual(held!.available);
        }
        for (const l of lines) {
          const mine = allocations.filter((a) => a.productId === l.productId);
          expect(mine.reduce((sum, a) => sum + a.quantity, 0)).toBe(l.quantity);
          expect(new Set(mine.map((a) => a.warehouseId)).size).toBe(mine.length);
          const available = stockList.filter((s) => s.productId === l.productId).map((s) => s.available);
          expect(mine.length).toBe(fewestWarehouses(l.quantity, available));
        }
      }
    });
  });
});
