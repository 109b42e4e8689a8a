/**
 * Predictive search building, free of I/O: what a shopper has typed so far becomes a
 * `PredictiveQuery` an index can run (every word a name prefix, or a name resembling the
 * text), and names get the ranges that match it, for highlighting.
 */
import { badUserInput } from '../../platform/errors';
import { normalizeSearchText } from './search-query';
import type { PredictiveQuery } from './store/port';

/** Suggestions of each kind when `first` is not given. */
export const DEFAULT_SUGGESTIONS = 5;
/** Most suggestions of each kind one request may ask for. */
export const MAX_SUGGESTIONS = 20;
/** Words of the text that are matched; later ones are ignored (suggestions are for short text). */
export const MAX_PREDICTIVE_WORDS = 8;
/**
 * Shortest text (letters and digits, spaces between words) matched by resemblance as well
 * as by prefix: one or two letters resemble too many names to be worth suggesting.
 */
export const MIN_FUZZY_LENGTH = 3;

// A word: letters and digits. Everything else (punctuation, tsquery syntax) separates words.
const WORD = /[\p{L}\p{N}]+/gu;

/** The words of `text`, lower-cased, in order. */
export function predictiveWords(text: string): string[] {
  return [...text.toLowerCase().matchAll(WORD)].map((m) => m[0]);
}

/**
 * A `to_tsquery` text in which every word is a prefix (`'oak':* & 'tab':*`). Words hold
 * only letters and digits, so quoting them cannot be broken out of.
 */
export function prefixTsQuery(words: readonly string[]): string {
  return words.map((word) => `'${word}':*`).join(' & ');
}

/** The arguments of `Query.predictiveSearch`. */
export interface PredictiveArgs {
  query: string;
  first?: number | null;
}

/** How many suggestions of each kind: `first`, else the default; 0 to MAX_SUGGESTIONS. */
export function suggestionCount(first: number | null | undefined): number {
  const count = first ?? DEFAULT_SUGGESTIONS;
  if (!Number.isInteger(count) || count < 0 || count > MAX_SUGGESTIONS) {
    throw badUserInput(`first must be between 0 and ${MAX_SUGGESTIONS}.`, { field: 'first' });
  }
  return count;
}

/**
 * Validates what was typed and turns it into the query an index runs; null when there is
 * nothing to look for (blank text, no letters or digits, or no suggestions asked for).
 */
export function buildPredictiveQuery(args: PredictiveArgs): { text: string; query: PredictiveQuery | null } {
  const limit = suggestionCount(args.first);
  const text = normalizeSearchText(args.query) ?? '';
  const words = predictiveWords(text).slice(0, MAX_PREDICTIVE_WORDS);
  if (words.length === 0 || limit === 0) return { text, query: null };
  const joined = words.join(' ');
  return {
    text,
    query: {
      words,
      prefix: prefixTsQuery(words),
      fuzzy: joined.length >= MIN_FUZZY_LENGTH ? joined : null,
      limit,
    },
  };
}

/** A part of a text, in UTF-16 code units, as JavaScript, Java and Swift's `utf16` index strings. */
export interface TextRange {
  start: number;
  length: number;
}

const sameLetters = new Intl.Collator('en', { sensitivity: 'base', usage: 'search' });

/**
 * Edits (insertions, deletions, substitutions, swaps of neighbours) between two words,
 * letter case and accents ignored; stops counting past `limit`.
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  const x = [...a.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()];
  const y = [...b.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()];
  if (Math.abs(x.length - y.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
      best = Math.min(best, d);
    }
    if (best > limit) return limit + 1;
    before = previous;
    previous = current;
  }
  return previous[y.length]!;
}

/** Typos forgiven in a typed word: none below MIN_FUZZY_LENGTH letters, one up to five, then two. */
export function allowedTypos(word: string): number {
  const length = [...word].length;
  if (length < MIN_FUZZY_LENGTH) return 0;
  return length <= 5 ? 1 : 2;
}

/** Whether `nameWord` starts with the typed `word`, letter case and accents ignored. */
function startsWith(nameWord: string, word: string): boolean {
  return nameWord.length >= word.length && sameLetters.compare(nameWord.slice(0, word.length), word) === 0;
}

/**
 * How much of `nameWord` the typed `word` is a typo of, in code units: the prefix (one
 * letter shorter than the word, as long, or one longer) within the typos allowed; 0 for none.
 */
function typoLength(nameWord: string, word: string): number {
  const typos = allowedTypos(word);
  let best = 0;
  let bestDistance = typos + 1;
  for (const length of [word.length, word.length + 1, word.length - 1]) {
    if (typos === 0 || length < 1 || length > nameWord.length) continue;
    const distance = editDistance(nameWord.slice(0, length), word, typos);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = length;
    }
  }
  return best;
}

/**
 * The parts of `name` the typed words match, for highlighting: the prefix of each word of
 * the name that a typed word starts; a typed word that starts none highlights the words it
 * is a typo of. Sorted, never overlapping; empty when the name only resembles the text as
 * a whole.
 */
export function highlightRanges(name: string, words: readonly string[]): TextRange[] {
  const nameWords = [...name.matchAll(WORD)].map((m) => ({ start: m.index, text: m[0] }));
  const covered = nameWords.map(() => 0);
  for (const word of words) {
    const prefixes = nameWords.map((w) => (startsWith(w.text, word) ? word.length : 0));
    const lengths = prefixes.some((n) => n > 0) ? prefixes : nameWords.map((w) => typoLength(w.text, word));
    lengths.forEach((n, i) => (covered[i] = Math.max(covered[i]!, n)));
  }
  return nameWords.flatMap((w, i) => (covered[i]! > 0 ? [{ start: w.start, length: covered[i]! }] : []));
}
