import { getOperationAST, parse } from 'graphql';
import { DEFAULT_OPERATION_LIMITS, limitExceeded, measureOperation } from '../operation-limits';
import { tokenCount } from '../tokens';

const measure = (text: string, operationName?: string) => {
  const document = parse(text);
  return measureOperation(document, getOperationAST(document, operationName)!);
};

/** `{ a { a { … } } }` nested `levels` deep. */
const nested = (levels: number): string => (levels === 0 ? '' : `a { ${nested(levels - 1)} b }`);

describe('measuring an operation', () => {
  it('counts depth from the root fields, the deepest branch deciding', () => {
    expect(measure('{ a }').depth).toBe(1);
    expect(measure('{ a { b } c }').depth).toBe(2);
    expect(measure(`{ ${nested(5)} }`).depth).toBe(6);
  });

  it('does not count introspection fields towards depth', () => {
    expect(measure('{ __schema { types { fields { type { ofType { ofType { name } } } } } } a }').depth).toBe(1);
    expect(measure('{ a { __typename } }').depth).toBe(1);
  });

  it('expands fragments where they are spread: depth and aliases cannot hide in them', () => {
    const text = `
      query { a { ...F } }
      fragment F on T { b { c { d } } x: e y: e }`;
    expect(measure(text)).toMatchObject({ depth: 4, aliases: 2 });
    const inline = `{ a { ... on T { b { ... on U { c } } } } }`;
    expect(measure(inline).depth).toBe(3);
  });

  it('counts a fragment spread a thousand times a thousand times', () => {
    const spreads = Array.from({ length: 1000 }, () => '...F').join(' ');
    const text = `query { a { ${spreads} } } fragment F on T { x: b y: c @skip(if: false) }`;
    expect(measure(text)).toMatchObject({ aliases: 2000, directives: 1000, depth: 2 });
  });

  it('multiplies nested spreads: each level spreads the one below twice', () => {
    const levels = Array.from({ length: 10 }, (_, i) => `fragment F${i} on T { ...F${i + 1} ...F${i + 1} }`).join('\n');
    const text = `query { a { ...F0 } } ${levels} fragment F10 on T { x: b }`;
    expect(measure(text).aliases).toBe(1024);
  });

  it('measures each fragment once: forty doubling levels would be 2^40 fields to expand', () => {
    // Expanding the spreads instead would not finish.
    const levels = Array.from({ length: 40 }, (_, i) => `fragment F${i} on T { ...F${i + 1} ...F${i + 1} }`).join('\n');
    const text = `query { a { ...F0 } } ${levels} fragment F40 on T { x: b }`;
    expect(measure(text)).toMatchObject({ aliases: 2 ** 40, depth: 2 });
  });

  it('survives a fragment cycle (validation refuses it first) without looping', () => {
    const text = `query { a { ...F } } fragment F on T { x: b ...G } fragment G on T { y: c ...F }`;
    expect(measure(text).aliases).toBe(2);
  });

  it('counts root fields through fragments and aliases', () => {
    expect(measure('{ a b c: a ... on Query { d } ...R } fragment R on Query { e f }').rootFields).toBe(6);
  });

  it('counts directives on fields, fragments and the operation itself', () => {
    expect(measure('query Q @x { a @include(if: true) { b @skip(if: false) } ... @include(if: true) { c } }', 'Q').directives).toBe(4);
  });
});

describe('refusing an operation over a limit', () => {
  const limits = DEFAULT_OPERATION_LIMITS;

  it.each([
    ['depth', { depth: 16, aliases: 0, rootFields: 1, directives: 0 }, 'MAX_DEPTH_LIMIT', 15, 16],
    ['aliases', { depth: 1, aliases: 31, rootFields: 1, directives: 0 }, 'MAX_ALIASES_LIMIT', 30, 31],
    ['root fields', { depth: 1, aliases: 0, rootFields: 21, directives: 0 }, 'MAX_ROOT_FIELDS_LIMIT', 20, 21],
    ['directives', { depth: 1, aliases: 0, rootFields: 1, directives: 51 }, 'MAX_DIRECTIVES_LIMIT', 50, 51],
  ] as const)('one over the %s limit is refused, naming the limit and the measure', (_name, measured, code, limit, value) => {
    const error = limitExceeded(measured, limits);
    expect(error?.extensions).toMatchObject({ code, limit, measured: value });
    expect(error?.message).toContain(String(limit));
    expect(error?.message).toContain(String(value));
  });

  it('lets an operation exactly at every limit through', () => {
    expect(limitExceeded({ depth: 15, aliases: 30, rootFields: 20, directives: 50 }, limits)).toBeNull();
  });
});

describe('counting tokens', () => {
  it('counts lexical tokens without comments, as the parser limits them', () => {
    expect(tokenCount('{ a b }')).toBe(4);
    expect(tokenCount('# a comment\n{ a(x: "s") }')).toBe(8);
    expect(tokenCount('')).toBe(0);
  });

  it('counts a document that does not lex up to its fault', () => {
    expect(tokenCount('{ a "unterminated')).toBe(2);
  });

  it('stops the parser at the limit: a 100,000-token document is refused before the rest is read', () => {
    const huge = `{ ${'a '.repeat(100_000)}}`;
    expect(() => parse(huge, { maxTokens: 5000 })).toThrow(/more tha[nt] 5000 tokens/);
    expect(tokenCount(huge)).toBe(100_002);
    // A fault past the limit is never reached: the limit answers, not the lexer.
    const brokenTail = `{ ${'a '.repeat(100_000)} "unterminated`;
    expect(() => parse(brokenTail)).toThrow(/Unterminated string/);
    expect(() => parse(brokenTail, { maxTokens: 5000 })).toThrow(/more tha[nt] 5000 tokens/);
  });
});
