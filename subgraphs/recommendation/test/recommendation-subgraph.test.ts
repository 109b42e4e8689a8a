import type { DemoOrder, DemoShop } from '../../../embedded/demo-shop-types';
import { serveTestSubgraph, testDeps, type TestDeps } from '../../../platform/testing';
import { seedRecommendations } from '../seed';
import type { RecommendationStore } from '../store/port';
import { openRecommendationStore, recommendationSubgraph } from '../subgraph';

const ALICE = 'c0000000-0000-4000-8000-00000000000a';
const BOB = 'c0000000-0000-4000-8000-00000000000b';
const NEWCOMER = 'c0000000-0000-4000-8000-00000000000c';
const ADMIN = 'c0000000-0000-4000-8000-0000000000ad';

let orderNumber = 0;
function order(customerId: string, productIds: string[]): DemoOrder {
  orderNumber += 1;
  return {
    id: `order-${orderNumber}`,
    customerId,
    placedAt: new Date(Date.UTC(2024, 0, orderNumber)),
    lines: productIds.map((productId) => ({ productId, quantity: 1, unitPriceAmount: 1000 })),
    shippingAddress: { line1: '1 Main St', line2: null, city: 'Springfield', region: null, postalCode: '1000', country: 'US' },
    card: { brand: 'visa', last4: '4242' },
  };
}

/**
 * Known history: tent is bought with stove 3×, lamp 2×, mat 1×. Alice has tent and mat;
 * Bob has stove. Fifty filler products are each bought once with `tent`.
 */
function demoShop(): DemoShop {
  return {
    currency: 'USD',
    categories: [],
    brands: [],
    products: [],
    warehouses: [],
    stock: [],
    customers: [],
    orders: [
      order(ALICE, ['tent', 'mat']),
      order(BOB, ['stove']),
      order('someone', ['tent', 'stove', 'lamp']),
      order('someone', ['tent', 'stove', 'lamp']),
      order('someone', ['tent', 'stove']),
      ...Array.from({ length: 50 }, (_, i) => order('filler', [`filler-${String(i).padStart(2, '0')}`, 'z-companion'])),
    ],
  };
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
    definition = recommendationSubgraph(store);
    expect(await seedRecommendations(definition.service, demoShop())).toBe(true);
    server = await serveTestSubgraph(definition, deps);
    [alice, bob, admin] = await Promise.all([deps.bearer(ALICE), deps.bearer(BOB), deps.bearer(ADMIN, ['customer', 'admin'])]);
  });
  afterAll(async () => {
    await server?.stop();
    await deps?.release();
  });

  it('seeds only an empty store', async () => {
    expect(await seedRecommendations(definition.service, demoShop())).toBe(false);
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
});
