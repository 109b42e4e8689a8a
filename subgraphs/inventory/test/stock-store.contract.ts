import type { ReservationLine, ReservationRecord, StockStore } from '../store/port';

/** What every StockStore adapter must do; run against each available adapter. */
export function stockStoreContract(open: () => Promise<{ store: StockStore; release(): Promise<void> }>) {
  let store: StockStore;
  let release: () => Promise<void>;

  beforeAll(async () => {
    ({ store, release } = await open());
    await store.addWarehouses([
      { id: 'wh-b', code: 'B-1', name: 'Berlin', city: 'Berlin', country: 'DE' },
      { id: 'wh-a', code: 'A-1', name: 'Amsterdam', city: 'Amsterdam', country: 'NL' },
    ]);
  });
  afterAll(() => release());

  it('answers ready', async () => {
    expect(await store.ready()).toBe(true);
  });

  it('lists warehouses by code and finds them by id', async () => {
    expect((await store.listWarehouses()).map((w) => w.code)).toEqual(['A-1', 'B-1']);
    expect((await store.warehousesByIds(['wh-b', 'missing'])).map((w) => w.id)).toEqual(['wh-b']);
    expect(await store.warehousesByIds([])).toEqual([]);
  });

  it('adding a warehouse twice keeps the first', async () => {
    await store.addWarehouses([{ id: 'wh-a', code: 'A-1', name: 'Other', city: 'X', country: 'NL' }]);
    expect((await store.warehousesByIds(['wh-a']))[0]?.name).toBe('Amsterdam');
  });

  it('sets and reads stock levels of many products in one statement', async () => {
    await store.setOnHandMany([
      { productId: 'p1', warehouseId: 'wh-a', onHand: 5 },
      { productId: 'p1', warehouseId: 'wh-b', onHand: 7 },
      { productId: 'p2', warehouseId: 'wh-a', onHand: 1 },
    ]);
    const before = store.statementCount();
    const levels = await store.stockLevelsFor(['p1', 'p2', 'p3']);
    expect(store.statementCount() - before).toBe(1);
    expect(levels.map((l) => [l.productId, l.warehouseId, l.onHand, l.reserved])).toEqual([
      ['p1', 'wh-a', 5, 0],
      ['p1', 'wh-b', 7, 0],
      ['p2', 'wh-a', 1, 0],
    ]);
    expect(levels[0]?.updatedAt).toBeInstanceOf(Date);
  });

  it('creates a level on first count and updates it on the next', async () => {
    const created = await store.setOnHand('p9', 'wh-b', 4);
    expect(created).toMatchObject({ productId: 'p9', warehouseId: 'wh-b', onHand: 4, reserved: 0 });
    const updated = await store.setOnHand('p9', 'wh-b', 11);
    expect(updated).toMatchObject({ onHand: 11, reserved: 0 });
  });

  it('refuses a count on an unknown warehouse', async () => {
    await expect(store.setOnHand('p9', 'nowhere', 1)).rejects.toThrow();
  });

  it('imports warehouses and counts together or not at all', async () => {
    const warehouse = { id: 'wh-import', code: 'IMP-1', name: 'Import', city: 'Rotterdam', country: 'NL' };
    await expect(
      store.importStock([warehouse], [
        { productId: 'imp-1', warehouseId: 'wh-import', onHand: 3 },
        { productId: 'imp-2', warehouseId: 'wh-import', onHand: -1 },
      ]),
    ).rejects.toThrow();
    expect(await store.warehousesByIds(['wh-import'])).toEqual([]);
    expect(await store.stockLevelsFor(['imp-1'])).toEqual([]);
    await store.importStock([warehouse], [{ productId: 'imp-1', warehouseId: 'wh-import', onHand: 3 }]);
    expect((await store.stockLevelsFor(['imp-1'])).map((l) => l.onHand)).toEqual([3]);
  });

  it('refuses negative counts at the database', async () => {
    await expect(store.setOnHandMany([{ productId: 'p5', warehouseId: 'wh-a', onHand: -1 }])).rejects.toThrow();
  });

  it('serialises concurrent counts of one level: the last write wins, no row is doubled', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.setOnHand('p7', 'wh-a', i)));
    const levels = await store.stockLevelsFor(['p7']);
    expect(levels).toHaveLength(1);
    expect(levels[0]!.onHand).toBeGreaterThanOrEqual(0);
    expect(levels[0]!.onHand).toBeLessThan(20);
  });

  describe('reservation transactions', () => {
    const at = new Date('2030-01-01T12:00:00Z');
    const later = new Date('2030-01-01T12:15:00Z');
    const levelsOf = async (productId: string) =>
      (await store.stockLevelsFor([productId])).map((l) => [l.warehouseId, l.onHand, l.reserved]);
    const reservationOf = async (orderId: string): Promise<ReservationRecord | undefined> =>
      (await store.reservationsByOrderIds([orderId]))[0];
    /** The request that opens `orderId`'s reservation for `productIds`, its message named after the order unless given. */
    const request = (orderId: string, productIds: string[], messageId = `placed-${orderId}`, expiresAt = later) => ({ messageId, orderId, expiresAt, productIds });
    /** Opens and fills a reservation in one transaction, as OrderPlaced does. */
    const reserve = (orderId: string, expiresAt: Date, lines: ReservationLine[]) =>
      store.transaction(async (tx) => {
        const opened = await tx.openReservations('test', [request(orderId, lines.map((l) => l.productId), undefined, expiresAt)]);
        if (opened.outcomes[0] !== 'opened') throw new Error(`${orderId} was not opened: ${opened.outcomes[0]}`);
        await tx.fillReservations([{ orderId, lines }], [], at, []);
      });

    it('reserves lines: units move into reserved and the reservation keeps its lines', async () => {
      await store.setOnHandMany([
        { productId: 'r1', warehouseId: 'wh-a', onHand: 5 },
        { productId: 'r1', warehouseId: 'wh-b', onHand: 3 },
      ]);
      await store.transaction(async (tx) => {
        const opened = await tx.openReservations('test', [request('o-1', ['r1', 'r1', 'unstocked'], 'm-o-1')]);
        expect(opened).toEqual({
          outcomes: ['opened'],
          levels: [
            { productId: 'r1', warehouseId: 'wh-a', onHand: 5, reserved: 0 },
            { productId: 'r1', warehouseId: 'wh-b', onHand: 3, reserved: 0 },
          ],
        });
        await tx.fillReservations([{ orderId: 'o-1', lines: [
          { productId: 'r1', warehouseId: 'wh-b', quantity: 3 },
          { productId: 'r1', warehouseId: 'wh-a', quantity: 2 },
        ] }], [], at, []);
      });
      expect(await levelsOf('r1')).toEqual([
        ['wh-a', 5, 2],
        ['wh-b', 3, 3],
      ]);
      expect(await reservationOf('o-1')).toMatchObject({
        orderId: 'o-1',
        status: 'RESERVED',
        expiresAt: later,
        confirmedAt: null,
        closedBeforePlaced: false,
        lines: [
          { productId: 'r1', warehouseId: 'wh-a', quantity: 2 },
          { productId: 'r1', warehouseId: 'wh-b', quantity: 3 },
        ],
      });
    });

    it('rolls everything back when the work throws', async () => {
      await store.setOnHandMany([{ productId: 'r2', warehouseId: 'wh-a', onHand: 4 }]);
      await expect(
        store.transaction(async (tx) => {
          await tx.openReservations('test', [request('o-rollback', ['r2'], 'm-rollback')]);
          await tx.fillReservations([{ orderId: 'o-rollback', lines: [{ productId: 'r2', warehouseId: 'wh-a', quantity: 4 }] }], [], at, []);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await levelsOf('r2')).toEqual([['wh-a', 4, 0]]);
      expect(await reservationOf('o-rollback')).toBeUndefined();
      expect(await store.transaction((tx) => tx.markProcessed('test', 'm-rollback'))).toBe(true);
    });

    it('refuses at the database to reserve more than is on hand, changing nothing', async () => {
      await store.setOnHandMany([{ productId: 'r3', warehouseId: 'wh-a', onHand: 2 }]);
      await expect(reserve('o-oversell', later, [{ productId: 'r3', warehouseId: 'wh-a', quantity: 3 }])).rejects.toThrow();
      expect(await levelsOf('r3')).toEqual([['wh-a', 2, 0]]);
      expect(await reservationOf('o-oversell')).toBeUndefined();
      // Nor can a count go below what is reserved.
      await reserve('o-r3', later, [{ productId: 'r3', warehouseId: 'wh-a', quantity: 2 }]);
      expect(await store.setOnHand('r3', 'wh-a', 1)).toEqual({ kind: 'below-reserved', reserved: 2 });
    });

    it('marks a message processed once per consumer', async () => {
      expect(await store.transaction((tx) => tx.markProcessed('inventory', 'm-1'))).toBe(true);
      expect(await store.transaction((tx) => tx.markProcessed('inventory', 'm-1'))).toBe(false);
      expect(await store.transaction((tx) => tx.markProcessed('other', 'm-1'))).toBe(true);
    });

    it('opens one reservation per order, and a closure recorded first keeps the order from being reserved', async () => {
      const open = (messageId: string, orderId: string) =>
        store.transaction(async (tx) => (await tx.openReservations('test', [request(orderId, ['r1'], messageId)])).outcomes[0]);
      expect(await open('m-o-2', 'o-2')).toBe('opened');
      // The same message again is a redelivery; another message for the order finds it known.
      expect(await open('m-o-2', 'o-2')).toBe('duplicate');
      expect(await open('m-o-2-again', 'o-2')).toBe('known');
      expect(await store.transaction((tx) => tx.recordClosedBeforePlaced('o-2', at))).toBe(false);
      expect((await reservationOf('o-2'))?.status).toBe('RESERVED');

      expect(await store.transaction((tx) => tx.recordClosedBeforePlaced('o-3', at))).toBe(true);
      expect(await open('m-o-3', 'o-3')).toBe('known');
      expect(await reservationOf('o-3')).toMatchObject({ status: 'RELEASED', closedBeforePlaced: true, lines: [] });
    });

    it('closes a reservation it opened but could not fill as RELEASED, with no lines', async () => {
      await store.transaction(async (tx) => {
        await tx.openReservations('test', [request('o-4', ['r1'], 'm-o-4')]);
        await tx.fillReservations([], ['o-4'], at, []);
      });
      expect(await reservationOf('o-4')).toMatchObject({ status: 'RELEASED', closedBeforePlaced: false, lines: [] });
      expect(await store.transaction(async (tx) => (await tx.openReservations('test', [request('o-4', ['r1'], 'm-o-4-again')])).outcomes[0])).toBe('known');
    });

    it('opens a reservation in one statement, and fills or refuses it in one more', async () => {
      await store.setOnHandMany([{ productId: 'r8', warehouseId: 'wh-a', onHand: 4 }]);
      for (const [orderId, fill] of [
        ['o-8filled', true],
        ['o-8refused', false],
      ] as const) {
        const before = store.statementCount();
        await store.transaction(async (tx) => {
          await tx.openReservations('test', [request(orderId, ['r8'], `m-${orderId}`)]);
          if (fill) await tx.fillReservations([{ orderId, lines: [{ productId: 'r8', warehouseId: 'wh-a', quantity: 1 }] }], [], at, []);
          else await tx.fillReservations([], [orderId], at, []);
        });
        expect(store.statementCount() - before).toBe(2);
      }
      expect(await levelsOf('r8')).toEqual([['wh-a', 4, 1]]);
      expect((await reservationOf('o-8refused'))?.status).toBe('RELEASED');
    });

    it('opens, fills and refuses the reservations of many orders in the same two statements', async () => {
      await store.setOnHandMany([
        { productId: 'r9', warehouseId: 'wh-a', onHand: 4 },
        { productId: 'r9', warehouseId: 'wh-b', onHand: 2 },
        { productId: 'r10', warehouseId: 'wh-a', onHand: 1 },
      ]);
      await reserve('o-9known', later, [{ productId: 'r9', warehouseId: 'wh-a', quantity: 1 }]);
      await store.transaction((tx) => tx.markProcessed('test', 'm-o-9dup'));
      const before = store.statementCount();
      const opened = await store.transaction(async (tx) => {
        const opened = await tx.openReservations('test', [
          request('o-9b', ['r9', 'r10']),
          request('o-9dup', ['r9'], 'm-o-9dup'),
          request('o-9known', ['r9'], 'm-o-9known-again'),
          request('o-9a', ['r9']),
          request('o-9refused', ['r10']),
        ]);
        await tx.fillReservations(
          [
            { orderId: 'o-9b', lines: [{ productId: 'r9', warehouseId: 'wh-a', quantity: 2 }, { productId: 'r10', warehouseId: 'wh-a', quantity: 1 }] },
            { orderId: 'o-9a', lines: [{ productId: 'r9', warehouseId: 'wh-a', quantity: 1 }, { productId: 'r9', warehouseId: 'wh-b', quantity: 2 }] },
          ],
          ['o-9refused'],
          at,
          [],
        );
        return opened;
      });
      expect(store.statementCount() - before).toBe(2);
      // Levels as they were when locked (o-9known holds one of wh-a's), each once, for every product named.
      expect(opened).toEqual({
        outcomes: ['opened', 'duplicate', 'known', 'opened', 'opened'],
        levels: [
          { productId: 'r10', warehouseId: 'wh-a', onHand: 1, reserved: 0 },
          { productId: 'r9', warehouseId: 'wh-a', onHand: 4, reserved: 1 },
          { productId: 'r9', warehouseId: 'wh-b', onHand: 2, reserved: 0 },
        ],
      });
      expect(await levelsOf('r9')).toEqual([
        ['wh-a', 4, 4],
        ['wh-b', 2, 2],
      ]);
      expect(await levelsOf('r10')).toEqual([['wh-a', 1, 1]]);
      expect(await reservationOf('o-9a')).toMatchObject({ status: 'RESERVED', lines: [{ productId: 'r9', warehouseId: 'wh-a', quantity: 1 }, { productId: 'r9', warehouseId: 'wh-b', quantity: 2 }] });
      expect((await reservationOf('o-9b'))?.lines).toEqual([{ productId: 'r10', warehouseId: 'wh-a', quantity: 1 }, { productId: 'r9', warehouseId: 'wh-a', quantity: 2 }]);
      expect(await reservationOf('o-9refused')).toMatchObject({ status: 'RELEASED', closedBeforePlaced: false, lines: [] });
      expect(await reservationOf('o-9dup')).toBeUndefined();
      expect((await reservationOf('o-9known'))?.lines).toEqual([{ productId: 'r9', warehouseId: 'wh-a', quantity: 1 }]);
      // An order named twice is a mistake of the caller, refused before any statement.
      await expect(store.transaction((tx) => tx.openReservations('test', [request('o-9c', ['r9']), request('o-9c', ['r9'], 'm-other')]))).rejects.toThrow('named twice');
    });

    it('releases, expires and ships: released units return, shipped units leave on hand', async () => {
      await store.setOnHandMany([{ productId: 'r5', warehouseId: 'wh-a', onHand: 10 }]);
      for (const orderId of ['o-5a', 'o-5b', 'o-5c']) await reserve(orderId, later, [{ productId: 'r5', warehouseId: 'wh-a', quantity: 3 }]);
      expect(await levelsOf('r5')).toEqual([['wh-a', 10, 9]]);
      for (const [orderId, status] of [
        ['o-5a', 'RELEASED'],
        ['o-5b', 'SHIPPED'],
        ['o-5c', 'EXPIRED'],
      ] as const) {
        await store.transaction(async (tx) => {
          const reservation = await tx.lockReservation(orderId);
          await tx.closeReservations([reservation!], status, at);
        });
        expect((await reservationOf(orderId))?.status).toBe(status);
      }
      expect(await levelsOf('r5')).toEqual([['wh-a', 7, 0]]);
    });

    it('closes reservations sharing a stock level by the sum of their units', async () => {
      await store.setOnHandMany([{ productId: 'r6', warehouseId: 'wh-b', onHand: 6 }]);
      for (const orderId of ['o-6a', 'o-6b']) await reserve(orderId, later, [{ productId: 'r6', warehouseId: 'wh-b', quantity: 2 }]);
      await store.transaction(async (tx) => {
        const both = [(await tx.lockReservation('o-6a'))!, (await tx.lockReservation('o-6b'))!];
        await tx.closeReservations(both, 'SHIPPED', at);
      });
      expect(await levelsOf('r6')).toEqual([['wh-b', 2, 0]]);
    });

    it('refuses to close a reservation twice, leaving stock as it was', async () => {
      const released = (await reservationOf('o-5a'))!;
      await expect(store.transaction((tx) => tx.closeReservations([released], 'RELEASED', at))).rejects.toThrow();
      expect(await levelsOf('r5')).toEqual([['wh-a', 7, 0]]);
    });

    it('confirms a RESERVED reservation once; confirmed and future reservations are not claimed as expired', async () => {
      const due = new Date('2030-01-01T11:00:00Z');
      await store.setOnHandMany([{ productId: 'r7', warehouseId: 'wh-a', onHand: 9 }]);
      for (const [orderId, expiresAt] of [
        ['o-7due', due],
        ['o-7paid', due],
        ['o-7future', later],
      ] as const) {
        await reserve(orderId, expiresAt, [{ productId: 'r7', warehouseId: 'wh-a', quantity: 1 }]);
      }
      const statements = store.statementCount();
      const transactions = store.transactionCount();
      expect(await store.confirmReservation('test', 'm-7paid', 'o-7paid', at)).toEqual({ kind: 'confirmed' });
      expect(store.statementCount() - statements).toBe(1);
      expect(store.transactionCount() - transactions).toBe(0);
      expect(await store.confirmReservation('test', 'm-7paid', 'o-7paid', at)).toEqual({ kind: 'duplicate' });
      expect(await store.confirmReservation('test', 'm-7paid-again', 'o-7paid', at)).toEqual({ kind: 'unchanged', status: 'RESERVED' });
      expect(await store.confirmReservation('test', 'm-5a', 'o-5a', at)).toEqual({ kind: 'unchanged', status: 'RELEASED' });
      expect(await store.confirmReservation('test', 'm-unknown', 'o-unknown', at)).toEqual({ kind: 'unchanged', status: null });
      expect((await reservationOf('o-7paid'))?.confirmedAt).toEqual(at);

      const claimed = await store.transaction((tx) => tx.claimExpired(at, 100));
      const ours = claimed.filter((r) => r.orderId.startsWith('o-7'));
      expect(ours.map((r) => r.orderId)).toEqual(['o-7due']);
      expect(ours[0]!.lines).toEqual([{ productId: 'r7', warehouseId: 'wh-a', quantity: 1 }]);
    });

    it('confirms the reservations of several orders handled at once in one statement, each message once', async () => {
      await store.setOnHandMany([{ productId: 'r8', warehouseId: 'wh-a', onHand: 9 }]);
      for (const orderId of ['o-8a', 'o-8b', 'o-8c']) await reserve(orderId, later, [{ productId: 'r8', warehouseId: 'wh-a', quantity: 1 }]);
      const statements = store.statementCount();
      expect(
        await Promise.all([
          store.confirmReservation('test', 'm-8a', 'o-8a', at),
          store.confirmReservation('test', 'm-8b', 'o-8b', at),
          store.confirmReservation('test', 'm-5a-again', 'o-5a', at),
          store.confirmReservation('test', 'm-8a', 'o-8a', at),
          store.confirmReservation('test', 'm-8c', 'o-8c', at),
        ]),
      ).toEqual([{ kind: 'confirmed' }, { kind: 'confirmed' }, { kind: 'unchanged', status: 'RELEASED' }, { kind: 'duplicate' }, { kind: 'confirmed' }]);
      // The second delivery of m-8a concerns an order already in the first statement: it goes in one of its own.
      expect(store.statementCount() - statements).toBe(2);
      for (const orderId of ['o-8a', 'o-8b', 'o-8c']) expect((await reservationOf(orderId))?.confirmedAt).toEqual(at);
    });

    it('reads reservations of many orders at once, unknown orders absent', async () => {
      expect(await store.reservationsByOrderIds([])).toEqual([]);
      const found = await store.reservationsByOrderIds(['o-1', 'o-missing', 'o-3']);
      expect(found.map((r) => r.orderId).sort()).toEqual(['o-1', 'o-3']);
    });
  });
}
