import { availableUnits, levelsByProduct, totalAvailable } from '../stock';

describe('stock arithmetic', () => {
  it('available is on hand minus reserved', () => {
    expect(availableUnits({ onHand: 10, reserved: 3 })).toBe(7);
    expect(availableUnits({ onHand: 3, reserved: 3 })).toBe(0);
  });

  it('never reports negative availability', () => {
    expect(availableUnits({ onHand: 2, reserved: 5 })).toBe(0);
  });

  it('sums availability over warehouses', () => {
    expect(totalAvailable([{ onHand: 5, reserved: 1 }, { onHand: 0, reserved: 0 }, { onHand: 9, reserved: 9 }])).toBe(4);
    expect(totalAvailable([])).toBe(0);
  });

  it('groups levels by product in the order asked, empty for products without stock', () => {
    const levels = [
      { productId: 'b', warehouseId: '1' },
      { productId: 'a', warehouseId: '1' },
      { productId: 'b', warehouseId: '2' },
    ];
    expect(levelsByProduct(['a', 'c', 'b'], levels)).toEqual([
      [{ productId: 'a', warehouseId: '1' }],
      [],
      [
        { productId: 'b', warehouseId: '1' },
        { productId: 'b', warehouseId: '2' },
      ],
    ]);
  });
});
