import { domainEvent } from '../../../platform/events';
import { money } from '../../../platform/money';
import { serveTestSubgraph, testDeps, type TestDeps } from '../../../platform/testing';
import type { Purchase, RecommendationStore } from '../store/port';
import { openRecommendationStore, recommendationSubgraph } from '../subgraph';

const ALICE = 'c0000000-0000-4000-8000-00000000000a';
const BOB = 'c0000000-0000-4000-8000-00000000000b';
const NEWCOMER = 'c0000000-0000-4000-8000-00000000000c';
const ADMIN = 'c0000000-0000-4000-8000-0000000000ad';

const order = (customerId: string, productIds: string[]): Purchase => ({ customerId, productIds });

/**
 * Known history: tent is bought with stove 3×, lamp 2×, mat 1×. Alice has tent and mat;
 * Bob has stove. Fifty filler products are each bought once with `tent`.
 */
function history(): Purchase[] {
  return [
    order(ALICE, ['tent', 'mat']),
    order(BOB, ['stove']),
    order('someone', ['tent', 'stove', 'lamp']),
    order('someone', ['tent', 'stove', 'lamp']),
    order('someone', ['tent', 'stove']),
    ...Array.from({ length: 50 }, (_, i) => order('filler', [`filler-${String(i).padStart(2, '0')}`, 'z-companion'])),
  ];
}

const PRODUCT_RECOMMENDATIONS = `query ($reps: [_Any!]!, $first: Int) {
  _entities(representations: $reps) { ... on Product { id recommendations(first: $first) { id } } }
}`;

const CUSTOMER_RECOMMENDATIONS = `query ($reps: [_Any!]!, $first: Int) {
  _entities(representations: $reps) { ... on Customer { id recommendations(first: $first) { id } } }
}`;

const refs = (typename: string, ...ids: string[]) => ids.map((id) => ({ __typename: typename, id }));
const idsOf = (list: { id: string }[]) => list.map((p) => p.id);

describe('recommendation subgraph over HTTP', () => {
  let deps: TestDeps;
  let store: RecommendationStore;
  let definition: ReturnType<typeof recommendationSubgraph>;
  let server: Awaited<ReturnType<typeof serveTestSubgraph>>;
  let alice: string;
  let bob: string;
  let admin: string;

  beforeAll(async () => {
    deps = await testDeps('pglite', ['recommendation']);
    store = await openRecommendationStore(deps);
    // Retention does not sweep during the tests, so statement counts below are the request's alone.
    definition = recommendationSubgraph(store, { ...deps, config: { ...deps.config, EVENT_RETENTION_SWEEP_SECONDS: 3600 } });
    await store.recordPurchases(history());
    server = await serveTestSubgraph(definition, deps);
    [alice, bob, admin] = await Promise.all([deps.bearer(ALICE), deps.bearer(BOB), deps.bearer(ADMIN, ['customer', 'admin'])]);
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  it('recommends what was bought together with a product, most often first, to anyone', async () => {
    const res = await server.query(PRODUCT_RECOMMENDATIONS, { reps: refs('Product', 'stove', 'unknown'), first: 3 });
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities).toEqual([
      { id: 'stove', recommendations: [{ id: 'tent' }, { id: 'lamp' }] },
      { id: 'unknown', recommendations: [] },
    ]);
    const tent = await server.query(PRODUCT_RECOMMENDATIONS, { reps: refs('Product', 'tent'), first: 3 });
    expect(idsOf(tent.data?._entities[0].recommendations)).toEqual(['stove', 'lamp', 'mat']);
  });

  it('returns five products when first is left out, and none for first: 0', async () => {
    const query = `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Product { recommendations { id } none: recommendations(first: 0) { id } } } }`;
    const res = await server.query(query, { reps: refs('Product', 'z-companion') });
    expect(res.errors).toBeUndefined();
    expect(idsOf(res.data?._entities[0].recommendations)).toEqual(['filler-00', 'filler-01', 'filler-02', 'filler-03', 'filler-04']);
    expect(res.data?._entities[0].none).toEqual([]);
  });

  it.each([101, -1])('refuses first: %i with BAD_USER_INPUT', async (first) => {
    const res = await server.query(PRODUCT_RECOMMENDATIONS, { reps: refs('Product', 'tent'), first });
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.extensions?.field).toBe('first');
    const mine = await server.query(CUSTOMER_RECOMMENDATIONS, { reps: refs('Customer', ALICE), first }, alice);
    expect(mine.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it("reads 50 products' recommendations with one statement, and one more per distinct first", async () => {
    const products = Array.from({ length: 50 }, (_, i) => `filler-${String(i).padStart(2, '0')}`);
    let before = store.statementCount();
    const res = await server.query(PRODUCT_RECOMMENDATIONS, { reps: refs('Product', ...products), first: 5 });
    expect(store.statementCount() - before).toBe(1);
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities.every((p: { recommendations: { id: string }[] }) => p.recommendations[0]?.id === 'z-companion')).toBe(true);

    const twoSizes = `query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Product { a: recommendations(first: 1) { id } b: recommendations(first: 2) { id } } } }`;
    before = store.statementCount();
    const sized = await server.query(twoSizes, { reps: refs('Product', 'tent', 'stove') });
    expect(store.statementCount() - before).toBe(2);
    expect(sized.data?._entities).toEqual([
      { a: [{ id: 'stove' }], b: [{ id: 'stove' }, { id: 'lamp' }] },
      { a: [{ id: 'tent' }], b: [{ id: 'tent' }, { id: 'lamp' }] },
    ]);
  });

  it('recommends to a customer what goes with their purchases, leaving out what they have', async () => {
    // Alice has tent and mat: stove (3 with tent) then lamp (2 with tent).
    const res = await server.query(CUSTOMER_RECOMMENDATIONS, { reps: refs('Customer', ALICE) }, alice);
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities).toEqual([{ id: ALICE, recommendations: [{ id: 'stove' }, { id: 'lamp' }] }]);
  });

  it('falls back to the best sellers for a customer who has bought nothing', async () => {
    const res = await server.query(CUSTOMER_RECOMMENDATIONS, { reps: refs('Customer', NEWCOMER), first: 3 }, await deps.bearer(NEWCOMER));
    expect(res.errors).toBeUndefined();
    // Units sold: z-companion 50; stove 4 (Bob and three orders); tent 4 (Alice and three orders); ties by id.
    expect(idsOf(res.data?._entities[0].recommendations)).toEqual(['z-companion', 'stove', 'tent']);
  });

  it('lets an admin see any customer, in one statement for customers with history', async () => {
    const before = store.statementCount();
    const res = await server.query(CUSTOMER_RECOMMENDATIONS, { reps: refs('Customer', ALICE, BOB), first: 2 }, admin);
    expect(store.statementCount() - before).toBe(1);
    expect(res.errors).toBeUndefined();
    // Bob has stove: tent (3), lamp (2).
    expect(res.data?._entities.map((c: { recommendations: { id: string }[] }) => idsOf(c.recommendations))).toEqual([
      ['stove', 'lamp'],
      ['tent', 'lamp'],
    ]);
  });

  it('reads the best sellers once for all customers without history in a batch', async () => {
    const before = store.statementCount();
    const res = await server.query(CUSTOMER_RECOMMENDATIONS, { reps: refs('Customer', NEWCOMER, ALICE, 'another-newcomer'), first: 1 }, admin);
    expect(store.statementCount() - before).toBe(2);
    expect(res.data?._entities.map((c: { recommendations: { id: string }[] }) => idsOf(c.recommendations))).toEqual([
      ['z-companion'],
      ['stove'],
      ['z-companion'],
    ]);
  });

  it("refuses another customer's recommendations with FORBIDDEN and anonymous callers with UNAUTHENTICATED", async () => {
    const forbidden = await server.query(CUSTOMER_RECOMMENDATIONS, { reps: refs('Customer', ALICE) }, bob);
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(forbidden.errors?.[0]?.path).toEqual(['_entities', 0, 'recommendations']);
    const anonymous = await server.query(CUSTOMER_RECOMMENDATIONS, { reps: refs('Customer', ALICE) });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const badToken = await server.query(CUSTOMER_RECOMMENDATIONS, { reps: refs('Customer', ALICE) }, 'Bearer forged');
    expect(badToken.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('learns a confirmed order from the bus through its consumer, and never an unconfirmed one', async () => {
    const CAROL = 'c0000000-0000-4000-8000-0000000000c1';
    const DAVE = 'c0000000-0000-4000-8000-0000000000d1';
    const placed = (orderId: string, customerId: string, productIds: string[]) =>
      domainEvent('OrderPlaced', orderId, {
        orderId,
        customerId,
        lines: productIds.map((productId) => ({ productId, quantity: 1, unitPrice: money(500, 'USD') })),
        total: money(500 * productIds.length, 'USD'),
        paymentToken: 'tok_visa',
      });
    const bus = await deps.events();
    await bus.publish([placed('bus-unconfirmed', DAVE, ['kayak', 'paddle'])]);
    await bus.publish([placed('bus-confirmed', CAROL, ['kayak', 'tent']), domainEvent('OrderConfirmed', 'bus-confirmed', { orderId: 'bus-confirmed' })]);

    const kayak = async () => (await server.query(PRODUCT_RECOMMENDATIONS, { reps: refs('Product', 'kayak') })).data?._entities[0];
    let seen = await kayak();
    for (let tries = 0; seen?.recommendations.length === 0 && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      seen = await kayak();
    }
    // Only Carol's confirmed order counts: kayak went with tent, never with the paddle of Dave's unconfirmed one.
    expect(seen).toEqual({ id: 'kayak', recommendations: [{ id: 'tent' }] });
  });
});
