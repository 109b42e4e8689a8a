import fs from 'node:fs';
import path from 'node:path';
import { ApolloGateway } from '@apollo/gateway';
import { getOperationAST, Kind, parse, print, type DocumentNode } from 'graphql';
import { CostCalculator, CostError, costKey, DEFAULT_LIST_SIZE } from '../cost';
import { Edge, type QueryCost } from '../edge';
import { DEFAULT_OPERATION_LIMITS } from '../operation-limits';
import { plannerSupergraph } from '../router';

/** A plain schema with no hints (the shape of Apollo Router's basic demand-control cases). */
const BASIC = `
  type Query {
    scalar(id: ID): String
    byObject(args: Outer): String
    object: Thing
    named: Named
    either: Either
    things: [Thing]
    numbers: [Int]
  }
  type Mutation { touch: Int }
  type Thing { value: Int inner: [Other] }
  interface Named { label: String }
  type Other implements Named { value: Int label: String }
  union Either = Thing | Other
  input Inner { id: ID }
  input Outer { inner: Inner other: Inner many: [Inner!] }
`;

/** Weights and list sizes of every kind the cost directives allow (Apollo Router's custom-cost cases). */
const CUSTOM = `
  directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | OBJECT | SCALAR
  directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION
  type Query {
    weighted: Int @cost(weight: 5)
    weightedArg(arg: Int @cost(weight: 10)): Int
    grade: Grade
    filtered(input: Costly): Int
    bigNumber: BigNumber
    gem: Gem
    words: [String!] @listSize(assumedSize: 2000, requireOneSlicingArgument: false)
    page(first: Int = 10): Page @listSize(slicingArguments: ["first"], sizedFields: ["items"])
    byIds(ids: [ID!]!): [Item] @listSize(slicingArguments: ["ids"])
    byIdsOrGuess(ids: [ID!]): [Item] @listSize(slicingArguments: ["ids"], assumedSize: 50, requireOneSlicingArgument: false)
    search(input: SearchInput!): [Item] @listSize(slicingArguments: ["input.paging.first"])
    searchOrGuess(input: SearchInput): [Item] @listSize(slicingArguments: ["input.paging.first"], assumedSize: 25, requireOneSlicingArgument: false)
    container(first: Int): Container! @listSize(slicingArguments: ["first"], sizedFields: ["page"], requireOneSlicingArgument: false)
    deep(first: Int = 10): Deep! @listSize(slicingArguments: ["first"], sizedFields: ["results { page }"], requireOneSlicingArgument: false)
    mixed(first: Int = 10): Deep! @listSize(slicingArguments: ["first"], sizedFields: ["page", "results { page }"], requireOneSlicingArgument: false)
    window(first: Int, last: Int): [Item] @listSize(slicingArguments: ["first", "last"], requireOneSlicingArgument: false)
    strict(first: Int, last: Int): [Item] @listSize(slicingArguments: ["first", "last"])
  }
  type Item { id: ID }
  enum Grade @cost(weight: 15) { A B }
  scalar BigNumber @cost(weight: 30)
  type Gem @cost(weight: 40) { id: ID }
  input Costly { pricey: Int @cost(weight: 20) }
  type Page { items: [Item] }
  type Container { page: [Item] metadata: String }
  type Deep { page: [Item] results: Container total: Int }
  input Paging { first: Int after: String }
  input SearchInput { paging: Paging text: String }
`;

const CUSTOM_QUERY = `
  fragment Items on Page { items { id } }
  {
    weighted
    weightedArg(arg: 3)
    grade
    filtered(input: { pricey: 10 })
    bigNumber
    gem { id }
    words
    page(first: 5) { ...Items }
  }
`;

const CUSTOM_RESPONSE = {
  weighted: 1,
  weightedArg: 2,
  grade: 'A',
  filtered: 3,
  bigNumber: 4,
  gem: { id: '5' },
  words: ['first', 'second', 'third'],
  page: { items: [{ id: '6' }, { id: '7' }, { id: '8' }] },
};

/** Weights on object types behind interfaces and unions. */
const TYPE_WEIGHTS = `
  directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | OBJECT | SCALAR
  type Query {
    animal: Animal
    animals: [Animal]
    plainAnimal: Plain
    result: Result
    mixedResult: Mixed
    plainResult: PlainUnion
    weightedObject: Weighted
    plainObject: PlainObject
  }
  interface Animal { name: String }
  type Cat implements Animal @cost(weight: 3) { name: String indoor: Boolean }
  type Dog implements Animal @cost(weight: 5) { name: String breed: String }
  interface Plain { name: String }
  type Fish implements Plain { name: String }
  type Bird implements Plain { name: String }
  union Result = Article | Video
  type Article @cost(weight: 2) { title: String }
  type Video @cost(weight: 8) { url: String }
  union Mixed = Costly | Cheap
  type Costly @cost(weight: 10) { value: String }
  type Cheap { value: String }
  union PlainUnion = A | B
  type A { id: ID }
  type B { id: ID }
  type Weighted @cost(weight: 7) { id: ID }
  type PlainObject { id: ID }
`;

/** Arguments that make a call cheaper: the IBM spec's negative weights. */
const NEGATIVE = `
  directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | OBJECT | SCALAR
  type Query {
    discounted(discount: Int @cost(weight: -20)): String @cost(weight: 5)
    evened(offset: Int @cost(weight: -10)): String @cost(weight: 10)
    reduced(offset: Int @cost(weight: -3)): String @cost(weight: 10)
    both(a: Int @cost(weight: -30), b: Int @cost(weight: 5)): String @cost(weight: 10)
    object(discount: Int @cost(weight: -50)): Holder @cost(weight: 5)
  }
  type Holder { id: ID inner: Holder }
`;

function estimate(schema: string, query: string, variables: Record<string, unknown> = {}, defaultListSize = 100): number {
  return new CostCalculator(schema, { defaultListSize }).estimated(parse(query), variables, null);
}

function actual(schema: string, query: string, data: unknown, variables: Record<string, unknown> = {}): number {
  return new CostCalculator(schema, { defaultListSize: 100 }).actual(parse(query), variables, null, data);
}

describe('static cost of plain schemas (no hints)', () => {
  it.each([
    ['a scalar costs nothing', '{ scalar }', 0],
    ['a mutation starts at 10', 'mutation { touch }', 10],
    ['an object costs 1', '{ object { value } }', 1],
    ['an interface costs 1', '{ named { label } }', 1],
    ['a union costs 1', '{ either { ... on Thing { value } } }', 1],
    ['a list of objects costs the default list size', '{ things { value } }', 100],
    ['a list of scalars costs nothing', '{ numbers }', 0],
    ['lists nested in lists multiply', '{ things { inner { value } } }', 100 * (1 + 100)],
    ['input objects cost 1 each, nested ones too', '{ byObject(args: { inner: { id: "1" }, other: { id: "2" }, many: [{ id: "3" }] }) }', 4],
    ['__typename costs nothing', '{ object { __typename } __typename }', 1],
    ['introspection costs nothing', '{ __schema { types { name } } __type(name: "Thing") { name } }', 0],
  ])('%s', (_name, query, expected) => {
    expect(estimate(BASIC, query)).toBe(expected);
  });

  it('leaves out what @skip and @include exclude, by literal or variable', () => {
    expect(estimate(BASIC, '{ object @skip(if: true) { value } }')).toBe(0);
    expect(estimate(BASIC, '{ object @include(if: false) { value } }')).toBe(0);
    expect(estimate(BASIC, '{ object @skip(if: false) { value } }')).toBe(1);
    const byVariable = 'query ($show: Boolean!) { things @include(if: $show) { value } }';
    expect(estimate(BASIC, byVariable, { show: false })).toBe(0);
    expect(estimate(BASIC, byVariable, { show: true })).toBe(100);
    const onFragments = 'query ($hide: Boolean = true) { ... @skip(if: $hide) { things { value } } ...T @skip(if: $hide) } fragment T on Query { object { value } }';
    expect(estimate(BASIC, onFragments)).toBe(0);
    expect(estimate(BASIC, onFragments, { hide: false })).toBe(101);
  });

  it('takes the list size it is given', () => {
    expect(estimate(BASIC, '{ things { inner { value } } }', {}, 5)).toBe(5 * (1 + 5));
    expect(new CostCalculator(BASIC).estimated(parse('{ things { value } }'), {}, null)).toBe(DEFAULT_LIST_SIZE);
    expect(() => new CostCalculator(BASIC, { defaultListSize: -1 })).toThrow(RangeError);
  });

  it('prices the operation named, and needs a name when the document holds several', () => {
    const document = parse('query Cheap { scalar } query Dear { things { value } }');
    const calculator = new CostCalculator(BASIC, { defaultListSize: 100 });
    expect(calculator.estimated(document, {}, 'Cheap')).toBe(0);
    expect(calculator.estimated(document, {}, 'Dear')).toBe(100);
    expect(() => calculator.estimated(document, {}, null)).toThrow(CostError);
    expect(() => calculator.estimated(document, {}, 'Missing')).toThrow(CostError);
  });

  it('refuses operations the graph does not have', () => {
    expect(() => estimate(BASIC, '{ nothing }')).toThrow(CostError);
    expect(() => estimate(BASIC, '{ ...Missing }')).toThrow(CostError);
    expect(() => estimate(BASIC, '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }')).toThrow(/spreads itself/);
    expect(() => estimate(BASIC, 'subscription { scalar }')).toThrow(/no subscription type/);
  });
});

/** Slicing arguments of every kind, with the cost each gives under CUSTOM (default list size 100). */
const SLICING_CASES: [string, string, Record<string, unknown>, number][] = [
  ['a list argument slices by its length', '{ byIds(ids: ["a", "b", "c"]) { id } }', {}, 3],
  ['an empty list slices to nothing', '{ byIds(ids: []) { id } }', {}, 0],
  ['a list variable slices by its length', 'query ($ids: [ID!]!) { byIds(ids: $ids) { id } }', { ids: ['a', 'b', 'c', 'd', 'e'] }, 5],
  ['a null slicing argument falls back to assumedSize', 'query ($ids: [ID!]) { byIdsOrGuess(ids: $ids) { id } }', { ids: null }, 50],
  ['a missing slicing argument falls back to assumedSize', 'query ($ids: [ID!]) { byIdsOrGuess(ids: $ids) { id } }', {}, 50],
  ['a slicing path reads into input objects', '{ search(input: { paging: { first: 10 } }) { id } }', {}, 10 + 2],
  ['a slicing path reads into variables', 'query ($input: SearchInput!) { search(input: $input) { id } }', { input: { paging: { first: 7 }, text: 't' } }, 7 + 2],
  ['a slicing path left empty falls back to assumedSize', 'query ($input: SearchInput) { searchOrGuess(input: $input) { id } }', { input: { paging: {} } }, 25 + 2],
  ['a null input falls back to assumedSize', 'query ($input: SearchInput) { searchOrGuess(input: $input) { id } }', { input: null }, 25],
  ['the largest of several slicing arguments wins', '{ window(first: 3, last: 8) { id } }', {}, 8],
  ['sizedFields size the named child list', '{ container(first: 5) { page { id } metadata } }', {}, 1 + 5],
  ['sizedFields reach into nested fields', '{ deep(first: 7) { results { page { id } } } }', {}, 1 + 1 + 7],
  ['nested sizedFields take the default too', '{ deep { results { page { id } } } }', {}, 1 + 1 + 10],
  ['nested sizedFields by variable', 'query ($n: Int!) { deep(first: $n) { results { page { id } } } }', { n: 3 }, 1 + 1 + 3],
  ['a sized field not selected costs nothing', '{ deep(first: 100) { total } }', {}, 1],
  ['a container on the way costs 1', '{ deep(first: 100) { results { metadata } } }', {}, 2],
  ['single and nested sizedFields together', '{ mixed(first: 5) { page { id } results { page { id } } } }', {}, 1 + 5 + 1 + 5],
  ['a list outside sizedFields keeps the default size', '{ deep(first: 5) { page { id } } }', {}, 1 + 100],
];

describe('static cost with @cost and @listSize', () => {
  it('adds field, argument, enum, input, scalar and object weights and sized lists', () => {
    // weighted 5 + weightedArg 10 + grade 15 + filtered (1 + 20) + bigNumber 30 + gem 40 + words 2000 × 0 + page (1 + 5 × 1)
    expect(estimate(CUSTOM, CUSTOM_QUERY)).toBe(127);
  });

  it('takes a slicing argument from its default when it is left out', () => {
    expect(estimate(CUSTOM, CUSTOM_QUERY.replace('page(first: 5)', 'page'))).toBe(132);
  });

  it('takes slicing arguments and argument weights from variables', () => {
    const query = CUSTOM_QUERY.replace('{\n    weighted', 'query ($costly: Costly, $count: Int) {\n    weighted')
      .replace('filtered(input: { pricey: 10 })', 'filtered(input: $costly)')
      .replace('page(first: 5)', 'page(first: $count)');
    expect(estimate(CUSTOM, query, { costly: { pricey: 10 }, count: 5 })).toBe(127);
    // A variable left out leaves the argument's default (10); a variable's own default comes first.
    expect(estimate(CUSTOM, query, { costly: { pricey: 10 } })).toBe(132);
    expect(estimate(CUSTOM, 'query ($n: Int = 2) { page(first: $n) { items { id } } }')).toBe(3);
  });

  it('counts a negative slicing argument as 0', () => {
    expect(estimate(CUSTOM, 'query ($n: Int) { byIdsOrGuess: page(first: $n) { items { id } } }', { n: -10 })).toBe(1);
  });

  it.each(SLICING_CASES)('%s', (_name, query, variables, expected) => {
    expect(estimate(CUSTOM, query, variables)).toBe(expected);
  });


  it('refuses a field that needs exactly one slicing argument and gets none or two', () => {
    expect(() => estimate(CUSTOM, '{ strict { id } }')).toThrow(/exactly one/);
    expect(() => estimate(CUSTOM, '{ strict(first: 1, last: 2) { id } }')).toThrow(/exactly one/);
    expect(estimate(CUSTOM, '{ strict(last: 4) { id } }')).toBe(4);
  });

  it.each([
    ['an object type weight replaces 1', '{ weightedObject { id } }', 7],
    ['an object without weight costs 1', '{ plainObject { id } }', 1],
    ['an interface weighs as much as its heaviest object type', '{ animal { name } }', 5],
    ['a list of an interface multiplies that weight', '{ animals { name } }', 500],
    ['an interface without weighted types costs 1', '{ plainAnimal { name } }', 1],
    ['a union weighs as much as its heaviest member', '{ result { ... on Article { title } ... on Video { url } } }', 8],
    ['a union with one weighted member', '{ mixedResult { ... on Costly { value } ... on Cheap { value } } }', 10],
    ['a union without weighted members costs 1', '{ plainResult { ... on A { id } ... on B { id } } }', 1],
  ])('%s', (_name, query, expected) => {
    expect(estimate(TYPE_WEIGHTS, query)).toBe(expected);
  });

  it.each([
    ['a call never costs less than 0', '{ discounted(discount: 1) }', 0],
    ['a call may cost exactly 0', '{ evened(offset: 1) }', 0],
    ['a cheaper call stays above 0', '{ reduced(offset: 1) }', 7],
    ['mixed argument weights', '{ both(a: 1, b: 1) }', 0],
    ['the object returned still costs', '{ object(discount: 1) { id } }', 1],
    ['and so do its fields', '{ object(discount: 1) { inner { id } } }', 2],
  ])('negative weights: %s', (_name, query, expected) => {
    expect(estimate(NEGATIVE, query)).toBe(expected);
  });
});

describe('static cost of fragments', () => {
  it('counts fragments and inline fragments like the fields they hold', () => {
    const plain = estimate(BASIC, '{ things { inner { value } } object { value } }');
    expect(estimate(BASIC, '{ ...Q } fragment Q on Query { things { ...T } ... on Query { object { value } } } fragment T on Thing { inner { value } }')).toBe(plain);
  });

  it('counts a fragment as often as it is spread, on every type condition', () => {
    const once = estimate(BASIC, '{ things { ...T } } fragment T on Thing { inner { value } }');
    expect(estimate(BASIC, '{ things { ...T ...T ... { ...T } } } fragment T on Thing { inner { value } }')).toBe(100 * (1 + 3 * 100));
    expect(once).toBe(100 * (1 + 100));
    expect(estimate(BASIC, '{ either { ... on Thing { value } ... on Other { value } ... on Named { label } } }')).toBe(1);
  });

  it('prices fragments that spread each other many times without expanding them', () => {
    const levels = 30;
    const fragments = Array.from({ length: levels }, (_v, i) =>
      i === levels - 1 ? `fragment F${i} on Thing { inner { value } }` : `fragment F${i} on Thing { ...F${i + 1} ...F${i + 1} }`,
    ).join('\n');
    // Expanding the spreads instead would be 2^29 visits, and would not finish.
    const cost = estimate(BASIC, `{ things { ...F0 } } ${fragments}`);
    expect(cost).toBe(100 * (1 + 2 ** (levels - 1) * 100));
  });
});

describe('directive names as linked', () => {
  const linkedSchema = (link: string, cost: string, listSize: string) => `
    schema ${link} { query: Query }
    directive @${cost}(weight: Int!) on FIELD_DEFINITION | OBJECT
    directive @${listSize}(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION
    type Query {
      weighted: Int @${cost}(weight: 5)
      items(first: Int = 3): [Item] @${listSize}(slicingArguments: ["first"])
    }
    type Item { id: ID }
  `;
  const query = '{ weighted items(first: 4) { id } }';

  it.each([
    ['as composition writes a supergraph', '@link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/cost/v0.1", import: ["@listSize"])', 'cost', 'listSize'],
    ['with nothing imported', '@link(url: "https://specs.apollo.dev/cost/v0.1")', 'cost', 'cost__listSize'],
    ['renamed on import', '@link(url: "https://specs.apollo.dev/cost/v0.1", import: [{ name: "@cost", as: "@price" }, { name: "@listSize", as: "@size" }])', 'price', 'size'],
    ['under another namespace', '@link(url: "https://specs.apollo.dev/cost/v0.1", as: "demand")', 'demand', 'demand__listSize'],
    ['from the federation spec, as in a subgraph', '@link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@cost", "@listSize"])', 'cost', 'listSize'],
    ['from the federation spec, not imported', '@link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])', 'federation__cost', 'federation__listSize'],
  ])('reads @cost and @listSize %s', (_name, link, cost, listSize) => {
    expect(estimate(linkedSchema(link, cost, listSize), query)).toBe(5 + 4);
  });

  it('ignores a directive that only shares the name when the spec is linked under another', () => {
    const schema = linkedSchema('@link(url: "https://specs.apollo.dev/cost/v0.1", as: "demand")', 'cost', 'listSize');
    expect(estimate(schema, query)).toBe(0 + 100);
  });

  it('reads weights written as strings', () => {
    expect(estimate(CUSTOM.replace('@cost(weight: 5)', '@cost(weight: "5")').replace('weight: Int!', 'weight: String!'), '{ weighted }')).toBe(5);
  });
});

describe('actual cost', () => {
  it('weighs what was returned: 3 items where 5 were estimated, 3 words where 2000 were assumed', () => {
    // weighted 5 + weightedArg 10 + grade 15 + filtered 21 + bigNumber 30 + gem 40 + words 0 + page (1 + 3)
    expect(actual(CUSTOM, CUSTOM_QUERY, CUSTOM_RESPONSE)).toBe(125);
  });

  it('costs nothing below a null, and nothing for null items', () => {
    expect(actual(BASIC, '{ things { inner { value } } }', { things: null })).toBe(0);
    expect(actual(BASIC, '{ things { inner { value } } }', { things: [null, { inner: null }, { inner: [{ value: 1 }, null] }] })).toBe(1 + 1 + 1);
    expect(actual(BASIC, '{ object { value } }', null)).toBe(0);
  });

  it('counts a call once per parent, its arguments included', () => {
    const query = '{ search(input: { paging: { first: 10 } }) { id } }';
    expect(actual(CUSTOM, query, { search: [{ id: '1' }, { id: '2' }] })).toBe(2 + 2);
    expect(actual(NEGATIVE, '{ discounted(discount: 1) }', { discounted: 'x' })).toBe(0);
    expect(actual(NEGATIVE, '{ reduced(offset: 1) }', { reduced: 'x' })).toBe(7);
    expect(actual(NEGATIVE, '{ object(discount: 1) { inner { id } } }', { object: { inner: { id: '1' } } })).toBe(2);
  });

  it('counts aliases apart and a field selected twice once', () => {
    expect(actual(BASIC, '{ a: object { value } b: object { value } }', { a: { value: 1 }, b: { value: 2 } })).toBe(2);
    expect(actual(BASIC, '{ object { value } object { inner { value } } ... on Query { object { value } } }', { object: { value: 1, inner: [{ value: 2 }] } })).toBe(2);
  });

  it('weighs an abstract type by the type returned when the response names it', () => {
    const query = '{ animals { __typename name } }';
    expect(actual(TYPE_WEIGHTS, query, { animals: [{ __typename: 'Cat', name: 'Tom' }, { __typename: 'Dog', name: 'Rex' }] })).toBe(3 + 5);
    expect(actual(TYPE_WEIGHTS, '{ animals { name } }', { animals: [{ name: 'Tom' }, { name: 'Rex' }] })).toBe(5 + 5);
    const byFragment = '{ result { __typename ... on Article { title } ... on Video { url } } }';
    expect(actual(TYPE_WEIGHTS, byFragment, { result: { __typename: 'Article', title: 't' } })).toBe(2);
  });

  it('follows fragments into the fields they select', () => {
    const query = '{ things { ...T } } fragment T on Thing { inner { ... on Other { value } } }';
    expect(actual(BASIC, query, { things: [{ inner: [{ value: 1 }, { value: 2 }] }] })).toBe(1 + 2);
  });

  it('leaves out what @skip excluded', () => {
    expect(actual(BASIC, 'query ($s: Boolean!) { object @skip(if: $s) { value } }', { object: { value: 1 } }, { s: true })).toBe(0);
  });

  it('adds 10 for a mutation', () => {
    expect(actual(BASIC, 'mutation { touch }', { touch: 1 })).toBe(10);
  });
});

/** `value` with every string replaced: what a caller sending other ids or keys would send. */
function otherStrings(value: unknown): unknown {
  if (typeof value === 'string') return `other-${value}-${value.length}`;
  if (Array.isArray(value)) return value.map(otherStrings);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, otherStrings(inner)]));
  return value;
}

describe('costKey', () => {
  it('is one key for variables that differ only in their strings', () => {
    const placed = { input: { idempotencyKey: 'k-1', shippingAddress: { line1: '1 Canal Street', country: 'NL' }, paymentToken: 'tok_visa' } };
    expect(costKey(otherStrings(placed) as Record<string, unknown>)).toBe(costKey(placed));
    expect(costKey({ ids: ['a', 'b'] })).toBe(costKey({ ids: ['c', 'd'] }));
  });

  it('tells apart everything a cost can read: numbers, booleans, nulls, fields given, list lengths', () => {
    const keys = [
      {},
      { n: 1 },
      { n: 2 },
      { n: '1' },
      { n: null },
      { n: true },
      { n: false },
      { ids: [] },
      { ids: ['a'] },
      { ids: ['a', 'b'] },
      { ids: [null] },
      { input: {} },
      { input: { paging: {} } },
      { input: { paging: { first: 7 } } },
      { input: { paging: { first: 7 }, text: 't' } },
      { input: { text: 't', paging: { first: 8 } } },
    ].map((variables) => costKey(variables));
    expect(new Set(keys).size).toBe(keys.length);
    expect(costKey(null)).toBe(costKey(undefined));
  });

  it.each(SLICING_CASES.filter(([, , variables]) => Object.keys(variables).length > 0))(
    'prices %s the same whatever the strings say',
    (_name, query, variables, expected) => {
      expect(estimate(CUSTOM, query, otherStrings(variables) as Record<string, unknown>)).toBe(expected);
    },
  );

  it('gives the same static and actual cost for arguments and skips read from variables with other strings', () => {
    const query = `query ($costly: Costly, $ids: [ID!], $skip: Boolean!) {
      filtered(input: $costly) byIds(ids: $ids) @skip(if: $skip) { id } search(input: { paging: { first: 2 }, text: "x" }) { id }
    }`;
    const variables = { costly: { pricey: 10 }, ids: ['a', 'b', 'c'], skip: false };
    const data = { filtered: 'x', byIds: [{ id: 'a' }, { id: 'b' }], search: [{ id: '1' }] };
    expect(estimate(CUSTOM, query, otherStrings(variables) as Record<string, unknown>)).toBe(estimate(CUSTOM, query, variables));
    expect(actual(CUSTOM, query, data, otherStrings(variables) as Record<string, unknown>)).toBe(actual(CUSTOM, query, data, variables));
    expect(estimate(CUSTOM, query, { ...variables, skip: true })).toBeLessThan(estimate(CUSTOM, query, variables));
  });
});

describe('the shop graph', () => {
  const supergraph = fs.readFileSync(path.join(__dirname, '..', '..', 'schema', 'supergraph.graphql'), 'utf8');
  const calculator = new CostCalculator(supergraph);
  const estimateShop = (query: string, variables: Record<string, unknown> = {}) => calculator.estimated(parse(query), variables, null);
  const MAX_COST = 5000;

  /** Every operation of the README's GraphQL examples. */
  const readmeOperations = (): [string, DocumentNode][] => {
    const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    return blocks.flatMap((block) =>
      parse(block).definitions.map((definition): [string, DocumentNode] => {
        const document: DocumentNode = { kind: Kind.DOCUMENT, definitions: [definition] };
        return [print(document).replace(/\s+/g, ' ').slice(0, 60), document];
      }),
    );
  };

  it.each(readmeOperations())('prices the README example %s well under the limit', (_name, document) => {
    const cost = calculator.estimated(document, {}, null);
    expect(cost).toBeGreaterThan(0);
    expect(cost).toBeLessThan(MAX_COST / 2);
  });

  it('prices the README search and the query over all six subgraphs', () => {
    // searchProducts 10 + result 1 + filter 1 + edges 5 × (1 + node 3) + pageInfo 1 + facets (1 + 50 × 2 + 50 × 2 + 6 × 3)
    expect(
      estimateShop(`{
        searchProducts(query: "wooden chair", filter: { maxPrice: 20000 }, first: 5) {
          totalCount
          edges { node { name brand { name } price { formatted } inStock } }
          pageInfo { hasNextPage endCursor }
          facets {
            categories { value { name } count }
            brands { value { name } count }
            priceBands { min { formatted } max { formatted } count }
          }
        }
      }`),
    ).toBe(252);
    // me 1 + recommendations (5 + 3 × 2) + orders 2 × (order 1 + total 1 + payment 2 + lines 25 × (1 + 1 + product (1 + 1 + 2 + 2)))
    expect(
      estimateShop(`{
        me {
          name
          recommendations(first: 3) { name price { formatted } }
          orders(first: 2) {
            id status placedAt total { formatted }
            payment { status method { brand last4 } }
            lines { quantity lineTotal { formatted } product { name brand { name } availableQuantity recommendations(first: 2) { name } } }
          }
        }
      }`),
    ).toBe(420);
  });

  const FAN_OUT = `{
    searchProducts(first: 100) {
      edges { node { name recommendations(first: 20) { name recommendations(first: 20) { name } } } }
    }
  }`;

  it('prices recommendations of recommendations of a full search page far above the limit', () => {
    // searchProducts 10 + 1 + 100 edges × (1 + node 1 + recommendations (2 + 20 × (1 + 2 + 20 × 1)))
    expect(estimateShop(FAN_OUT)).toBe(46411);
    expect(estimateShop(FAN_OUT)).toBeGreaterThan(MAX_COST);
  });

  it('cannot be talked down by fragments, aliases or variables', () => {
    const full = estimateShop(FAN_OUT);
    const hidden = `
      query ($n: Int = 100) {
        searchProducts(first: $n) { ...Page }
      }
      fragment Page on ProductSearchResult { edges { ... on ProductEdge { node { ...Again } } } }
      fragment Again on Product { name recommendations(first: 20) { ... { name recommendations(first: 20) { name } } } }
    `;
    expect(estimateShop(hidden)).toBe(full);
    expect(estimateShop('query ($n: Int) { searchProducts(first: $n) { ...P } } fragment P on ProductSearchResult { edges { node { recommendations(first: 20) { recommendations(first: 20) { name } } } } }', { n: 100 })).toBe(full);
    const twice = `{ a: searchProducts(first: 100) { ...P } b: searchProducts(first: 100) { ...P } }
      fragment P on ProductSearchResult { edges { node { recommendations(first: 20) { recommendations(first: 20) { name } } } } }`;
    expect(estimateShop(twice)).toBe(2 * full);
    // A first left out takes the field's default, not nothing.
    expect(estimateShop('{ searchProducts { edges { node { name } } } }')).toBe(10 + 1 + 20 * 2);
  });

  it('prices mutations that run the checkout saga above plain ones', () => {
    const placeOrder = estimateShop(`mutation {
      placeOrder(input: { idempotencyKey: "k", shippingAddress: { line1: "1", city: "A", postalCode: "1", country: "NL" }, paymentToken: "tok_visa" }) { id }
    }`);
    expect(placeOrder).toBe(10 + 50 + 1 + 2);
    expect(estimateShop('mutation { cancelOrder(id: "o") { id } }')).toBe(10 + 20 + 1);
  });

  it('is estimated once at the edge for all the variables that differ only in their strings', async () => {
    const gateway = new ApolloGateway({ supergraphSdl: plannerSupergraph(supergraph) });
    const { schema } = await gateway.load();
    await gateway.stop();
    let estimates = 0;
    const counting: QueryCost = {
      estimated: (document, variables, operationName) => {
        estimates += 1;
        return calculator.estimated(document, variables, operationName);
      },
      actual: (document, variables, operationName, data) => calculator.actual(document, variables, operationName, data as never),
    };
    const edge = new Edge({ supergraphSdl: supergraph, limits: DEFAULT_OPERATION_LIMITS, maxCost: MAX_COST, cost: counting });
    const check = (query: string, variables: Record<string, unknown>) => {
      const document = parse(query);
      const operation = getOperationAST(document) ?? undefined;
      const viewer = { kind: 'customer', customerId: 'c1', scopes: ['customer'] } as const;
      return edge.check({ document, operation, queryHash: query, operationName: null, schema, viewer, variables }).requestedQueryCost;
    };
    const place = 'mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }';
    const input = (key: string) => ({ idempotencyKey: key, shippingAddress: { line1: '1 Canal Street', city: 'Amsterdam', postalCode: '1012 AB', country: 'NL' }, paymentToken: 'tok_visa' });
    const costs = ['k-1', 'k-2', 'k-3'].map((key) => check(place, { input: input(key) }));
    expect(costs).toEqual([10 + 50 + 1 + 2, 10 + 50 + 1 + 2, 10 + 50 + 1 + 2]);
    expect(estimates).toBe(1);
    // A slicing argument is part of the key: another page size is priced anew.
    const search = 'query ($n: Int) { searchProducts(first: $n) { edges { node { name } } } }';
    expect(check(search, { n: 5 })).toBeLessThan(check(search, { n: 50 }));
    expect(check(search, { n: 5 })).toBe(check(search, { n: 5 }));
    expect(estimates).toBe(3);
  });

  it('has a list size for every list field and slices every paged field by first', () => {
    const types = parse(supergraph).definitions.filter(
      (d) => d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.INTERFACE_TYPE_DEFINITION,
    );
    // Lists a parent field sizes through sizedFields, as `Type.field`.
    const sizedByParent = new Set<string>();
    for (const definition of types) {
      for (const field of definition.fields ?? []) {
        const sized = field.directives?.find((d) => d.name.value === 'listSize')?.arguments?.find((a) => a.name.value === 'sizedFields');
        if (sized?.value.kind !== Kind.LIST) continue;
        const typeName = print(field.type).replace(/[[\]!]/g, '');
        for (const name of sized.value.values) if (name.kind === Kind.STRING) sizedByParent.add(`${typeName}.${name.value}`);
      }
    }
    const unsized: string[] = [];
    const unsliced: string[] = [];
    for (const definition of types) {
      for (const field of definition.fields ?? []) {
        const listSize = field.directives?.find((d) => d.name.value === 'listSize');
        const where = `${definition.name.value}.${field.name.value}`;
        const isList = print(field.type).includes('[');
        if (isList && !listSize && !sizedByParent.has(where)) unsized.push(where);
        if (field.arguments?.some((a) => a.name.value === 'first') && !(listSize && print(listSize).includes('slicingArguments: ["first"]'))) unsliced.push(where);
      }
    }
    expect(unsized).toEqual([]);
    expect(unsliced).toEqual([]);
  });
});
