import { generateDemoShop, SMALL_SIZE } from '../../../platform/demo-shop';
import { testDeps } from '../../../platform/testing';
import { demoHistoryWorker, HistoryClock } from '../demo-history';
import { createOrderSubgraph } from '../subgraph';

describe('the clock past orders are placed by', () => {
  it('tells each replayed order its own time, also when orders run side by side', async () => {
    const clock = new HistoryClock();
    const first = new Date('2024-01-02T03:04:05.006Z');
    const second = new Date('2024-06-07T08:09:10.011Z');
    const seen = await Promise.all(
      [first, second].map((time) =>
        clock.at(time, async () => {
          const before = clock.now();
          await new Promise((resolve) => setTimeout(resolve, 5));
          return [before, clock.now()];
        }),
      ),
    );
    expect(seen).toEqual([
      [first, first],
      [second, second],
    ]);
  });

  it('tells the system time outside a replay, and a fresh Date each time', async () => {
    const clock = new HistoryClock();
    const before = Date.now();
    const now = clock.now();
    expect(now.getTime()).toBeGreaterThanOrEqual(before);
    expect(now.getTime()).toBeLessThanOrEqual(Date.now());
    const time = new Date('2024-01-01T00:00:00Z');
    await clock.at(time, async () => {
      const told = clock.now();
      told.setFullYear(1999);
      expect(clock.now()).toEqual(time);
    });
  });

  it('stops following async contexts once no replay runs, so nothing that outlives one is told its time', async () => {
    const clock = new HistoryClock();
    const time = new Date('2024-01-01T00:00:00Z');
    let outliving: Promise<Date> | undefined;
    await clock.at(time, async () => {
      outliving = new Promise((resolve) => setTimeout(() => resolve(clock.now()), 20));
    });
    expect((await outliving!).getTime()).toBeGreaterThan(time.getTime());
    // And it follows them again for the next replay.
    expect(await clock.at(time, async () => clock.now())).toEqual(time);
  });
});

describe('the demo history worker of a standalone order process', () => {
  it('waits for the subgraphs checkout needs, and stops at once when shut down meanwhile', async () => {
    const deps = await testDeps('pglite', ['order']);
    const definition = await createOrderSubgraph(deps);
    try {
      const worker = demoHistoryWorker({
        shop: generateDemoShop(SMALL_SIZE),
        orders: definition.service,
        clock: new HistoryClock(),
        logger: deps.logger,
        // Nothing listens there: the catalog never becomes ready.
        peers: ['http://127.0.0.1:9/graphql'],
      });
      await worker.start();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stopping = Date.now();
      await worker.stop();
      expect(Date.now() - stopping).toBeLessThan(3_000);
      expect(await definition.service.hasOrders()).toBe(false);
    } finally {
      await Promise.all(definition.stores.map((store) => store.close()));
      await deps.release();
    }
  });
});
