import {
  allowedTypos,
  buildPredictiveQuery,
  editDistance,
  highlightRanges,
  MAX_PREDICTIVE_WORDS,
  predictiveWords,
  prefixTsQuery,
  suggestionCount,
} from '../predictive-query';

/** The highlighted parts of `name`, as a client would cut them out. */
function marked(name: string, typed: string): string[] {
  const words = predictiveWords(typed);
  return highlightRanges(name, words).map(({ start, length }) => name.slice(start, start + length));
}

describe('predictive query building', () => {
  it('turns typed words into prefixes that must all match', () => {
    expect(buildPredictiveQuery({ query: '  Oak   ta ' })).toEqual({
      text: 'Oak ta',
      query: { words: ['oak', 'ta'], prefix: "'oak':* & 'ta':*", fuzzy: 'oak ta', limit: 5 },
    });
  });

  it('reads only letters and digits, so no tsquery syntax gets through', () => {
    expect(predictiveWords("o'ak & (ta:*) | !b2")).toEqual(['o', 'ak', 'ta', 'b2']);
    expect(prefixTsQuery(predictiveWords("x' | y"))).toBe("'x':* & 'y':*");
  });

  it('keeps letters of every script, lower-cased', () => {
    expect(predictiveWords('Café NOVÝ 北欧')).toEqual(['café', 'nový', '北欧']);
  });

  it('matches text shorter than three letters by prefix only', () => {
    expect(buildPredictiveQuery({ query: 'ch' }).query).toMatchObject({ fuzzy: null });
    expect(buildPredictiveQuery({ query: 'a b' }).query).toMatchObject({ fuzzy: 'a b' });
    expect(buildPredictiveQuery({ query: 'cha' }).query).toMatchObject({ fuzzy: 'cha' });
  });

  it(`keeps the first ${MAX_PREDICTIVE_WORDS} words`, () => {
    const query = buildPredictiveQuery({ query: 'a b c d e f g h i j' }).query!;
    expect(query.words).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
  });

  it.each([[''], ['   '], ['&|!()'], ["'"]])('looks for nothing in %j', (text) => {
    expect(buildPredictiveQuery({ query: text }).query).toBeNull();
  });

  it('looks for nothing when no suggestions are asked for', () => {
    expect(buildPredictiveQuery({ query: 'oak', first: 0 })).toEqual({ text: 'oak', query: null });
  });

  it('takes 0 to 20 suggestions of each kind, 5 by default', () => {
    expect(suggestionCount(undefined)).toBe(5);
    expect(suggestionCount(null)).toBe(5);
    expect(suggestionCount(20)).toBe(20);
    for (const bad of [-1, 21, 2.5]) {
      expect(() => suggestionCount(bad)).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
    }
  });

  it('refuses text over 200 characters', () => {
    expect(() => buildPredictiveQuery({ query: 'a'.repeat(201) })).toThrow(/at most 200/);
  });
});

describe('edit distance', () => {
  it.each([
    ['table', 'table', 0],
    ['tabel', 'table', 1],
    ['tble', 'table', 1],
    ['tablle', 'table', 1],
    ['tavle', 'table', 1],
    ['Café', 'cafe', 0],
    ['sofa', 'lamp', 4],
  ])('%s → %s is %d', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });

  it('stops counting past the limit', () => {
    expect(editDistance('abcdefgh', 'zyxwvuts', 2)).toBe(3);
  });

  it('forgives no typo below three letters, one up to five, two from six', () => {
    expect([allowedTypos('ab'), allowedTypos('abc'), allowedTypos('abcde'), allowedTypos('abcdef')]).toEqual([0, 1, 1, 2]);
  });
});

describe('highlighting', () => {
  it('marks the typed prefix of each word it starts', () => {
    expect(marked('Rustic Oak Coffee Table', 'oak ta')).toEqual(['Oak', 'Ta']);
    expect(highlightRanges('Rustic Oak Coffee Table', ['oak', 'ta'])).toEqual([
      { start: 7, length: 3 },
      { start: 18, length: 2 },
    ]);
  });

  it('marks every word a typed word starts, in order', () => {
    expect(marked('Table Lamp on a Table', 'ta')).toEqual(['Ta', 'Ta']);
  });

  it('ignores letter case and accents', () => {
    expect(marked('Café Table', 'CAFE')).toEqual(['Café']);
  });

  it('marks a word a typed word is a typo of, when it starts none', () => {
    expect(marked('Modern Oak Table', 'tabel')).toEqual(['Table']);
    expect(marked('Coffee Table', 'cofee')).toEqual(['Coffe']);
  });

  it('does not mark typos of a typed word that starts a word', () => {
    expect(marked('Bed Frame in Red', 'bed')).toEqual(['Bed']);
  });

  it('marks nothing for one or two letters that start no word', () => {
    expect(marked('Modern Oak Table', 'tb')).toEqual([]);
  });

  it('counts offsets in UTF-16 code units', () => {
    const name = '🛋️ Sofa';
    // The sofa emoji is two units, its variation selector one, then a space.
    expect(highlightRanges(name, ['so'])).toEqual([{ start: 4, length: 2 }]);
    expect(marked(name, 'so')).toEqual(['So']);
  });

  it('merges the ranges of several typed words on one word into the longest', () => {
    expect(highlightRanges('Oakline', ['o', 'oak'])).toEqual([{ start: 0, length: 3 }]);
  });
});
