import DataLoader from 'dataloader';

export interface CoalesceOptions<I> {
  /**
   * Items with the same key never share a run (two events of one order, say, whose statement
   * would touch the order's row twice): the later ones go in a run of their own after it.
   * Without it, any items share a run (reads, which a repeat cannot disturb).
   */
  key?(item: I): string;
  /** Items per run at most; default 100. */
  maxBatchSize?: number;
}

/**
 * Gathers the calls made in one tick into one call of `run`, which answers an item for each
 * item it is given, in their order: the event handlers a read of the bus starts side by side
 * each make one statement, and together they make one statement for all of them. A run that
 * fails is repeated for each of its items alone, so one item that cannot be handled fails
 * only its own call. A store builds one per statement; it caches nothing, so unlike a
 * request's loaders it hands no answer to any call but the one that asked.
 */
export function coalesced<I, O>(run: (items: readonly I[]) => Promise<readonly O[]>, options: CoalesceOptions<I> = {}): (item: I) => Promise<O> {
  /** Answers for `items` from one run; a run that throws is split into runs of one item each. */
  const runOrSplit = async (items: readonly I[]): Promise<(O | Error)[]> => {
    let answers: readonly O[];
    try {
      answers = await run(items);
    } catch (error) {
      if (items.length === 1) return [asError(error)];
      return Promise.all(items.map((item) => runOrSplit([item]).then(([answer]) => answer!)));
    }
    // A run that did its work and answered wrongly is a mistake in `run`: running its items
    // again would only find their work done, so each call fails instead.
    if (answers.length !== items.length) {
      const mistake = new Error(`a coalesced run answered ${answers.length} items for ${items.length}`);
      return items.map(() => mistake);
    }
    return [...answers];
  };
  const loader = new DataLoader<I, O>(
    async (items) => {
      const answers: (O | Error)[] = new Array(items.length);
      const key = options.key;
      for (const round of key ? rounds(items, key) : [items.map((_, index) => index)]) {
        const answered = await runOrSplit(round.map((index) => items[index]!));
        round.forEach((index, n) => (answers[index] = answered[n]!));
      }
      return answers;
    },
    { cache: false, maxBatchSize: options.maxBatchSize ?? 100 },
  );
  return (item) => loader.load(item);
}

/** Indexes of `items` in runs where no key repeats, each item in the first run its key is not yet in. */
function rounds<I>(items: readonly I[], key: (item: I) => string): number[][] {
  const out: { keys: Set<string>; indexes: number[] }[] = [];
  items.forEach((item, index) => {
    const k = key(item);
    let round = out.find((r) => !r.keys.has(k));
    if (!round) out.push((round = { keys: new Set(), indexes: [] }));
    round.keys.add(k);
    round.indexes.push(index);
  });
  return out.map((r) => r.indexes);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
