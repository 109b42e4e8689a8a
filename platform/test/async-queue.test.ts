import { AsyncQueue, QueueOverflowError, mapSource } from '../async-queue';

/** Lets pending promise callbacks and I/O callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

const done = { value: undefined, done: true };

/** A source of values handed over one `next()` at a time, recording what was asked of it. */
class ManualSource<T> implements AsyncIterator<T> {
  reads = 0;
  returns = 0;
  private waiting: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void } | undefined;

  next(): Promise<IteratorResult<T>> {
    this.reads += 1;
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  async return(): Promise<IteratorResult<T>> {
    this.returns += 1;
    this.waiting?.resolve({ value: undefined, done: true });
    return { value: undefined, done: true };
  }

  give(value: T): void {
    this.take().resolve({ value, done: false });
  }

  finish(): void {
    this.take().resolve({ value: undefined, done: true });
  }

  fail(error: unknown): void {
    this.take().reject(error);
  }

  private take() {
    const waiting = this.waiting;
    if (!waiting) throw new Error('nobody is reading the source');
    this.waiting = undefined;
    return waiting;
  }
}

describe('AsyncQueue', () => {
  it('yields pushed values in order, including ones pushed while a read waits', async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    const waiting = (async () => {
      await queue.next();
      return queue.next();
    })();
    await settle();
    expect(queue.push(2)).toBe(true);
    expect(await waiting).toEqual({ value: 2, done: false });
  });

  it('serves several waiting reads in the order they asked', async () => {
    const queue = new AsyncQueue<string>();
    const first = queue.next();
    const second = queue.next();
    queue.push('a');
    queue.push('b');
    expect(await Promise.all([first, second])).toEqual([
      { value: 'a', done: false },
      { value: 'b', done: false },
    ]);
  });

  it('delivers what is buffered before ending, then stays done, refuses later pushes and cleans up once', async () => {
    let ended = 0;
    const queue = new AsyncQueue<string>({ onEnd: () => ended++ });
    queue.push('a');
    queue.push('b');
    queue.end();
    expect(queue.push('c')).toBe(false);
    queue.end();
    const seen: string[] = [];
    for await (const value of queue) seen.push(value);
    expect(seen).toEqual(['a', 'b']);
    expect(await queue.next()).toEqual(done);
    expect(ended).toBe(1);
  });

  it('resolves every waiting read as done when it ends', async () => {
    const queue = new AsyncQueue<number>();
    const reads = [queue.next(), queue.next()];
    queue.end();
    expect(await Promise.all(reads)).toEqual([done, done]);
  });

  it('releases a reader waiting on a quiet queue at once when it returns, and cleans up once', async () => {
    let ended = 0;
    const queue = new AsyncQueue<string>({ onEnd: () => ended++ });
    const pending = queue.next();
    expect(await queue.return()).toEqual(done);
    expect(await pending).toEqual(done);
    queue.end();
    await queue.return();
    expect(ended).toBe(1);
  });

  it('ends a `for await` loop waiting on it when returned from outside', async () => {
    const queue = new AsyncQueue<number>();
    const seen: number[] = [];
    const loop = (async () => {
      for await (const value of queue) seen.push(value);
      return 'left';
    })();
    queue.push(1);
    await settle();
    await queue.return();
    expect(await loop).toBe('left');
    expect(seen).toEqual([1]);
  });

  it('drops buffered values when the reader returns', async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.push(2);
    await queue.return();
    expect(queue.size).toBe(0);
    expect(queue.ended).toBe(true);
    expect(await queue.next()).toEqual(done);
  });

  it('fails with the error it ends with after the buffered values, once, then is done', async () => {
    let ended = 0;
    const queue = new AsyncQueue<number>({ onEnd: () => ended++ });
    queue.push(1);
    queue.end(new Error('the topic went away'));
    expect(await queue.next()).toEqual({ value: 1, done: false });
    await expect(queue.next()).rejects.toThrow('the topic went away');
    expect(await queue.next()).toEqual(done);
    expect(ended).toBe(1);
  });

  it('fails the first waiting read with the error it ends with, and ends the others', async () => {
    const queue = new AsyncQueue<number>();
    const first = queue.next();
    const second = queue.next();
    queue.end(new Error('no permission'));
    await expect(first).rejects.toThrow('no permission');
    expect(await second).toEqual(done);
  });

  it('rejects `throw()` with its error, ends waiting reads and cleans up once', async () => {
    let ended = 0;
    const queue = new AsyncQueue<number>({ onEnd: () => ended++ });
    const pending = queue.next();
    await expect(queue.throw(new Error('client went away'))).rejects.toThrow('client went away');
    expect(await pending).toEqual(done);
    expect(await queue.next()).toEqual(done);
    expect(ended).toBe(1);
  });

  it('forgets a failure not yet read when the reader returns', async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.end(new Error('late'));
    await queue.return();
    expect(await queue.next()).toEqual(done);
  });

  describe('with drop-oldest overflow', () => {
    it('keeps the newest values, counts the dropped ones and reports overflow once per episode', async () => {
      const overflows: boolean[] = [];
      const queue = new AsyncQueue<number>({ capacity: 3, overflow: 'drop-oldest', onOverflow: (first) => overflows.push(first) });
      for (let n = 1; n <= 10; n++) expect(queue.push(n)).toBe(true);
      expect(queue.dropped).toBe(7);
      expect(queue.size).toBe(3);
      expect(overflows.filter(Boolean)).toHaveLength(1);
      const read = async (count: number) => {
        const values: number[] = [];
        while (values.length < count) values.push((await queue.next()).value!);
        return values;
      };
      expect(await read(3)).toEqual([8, 9, 10]);

      // Caught up: falling behind again is a new episode.
      for (let n = 11; n <= 15; n++) queue.push(n);
      expect(queue.dropped).toBe(9);
      expect(overflows).toEqual([true, false, false, false, false, false, false, true, false]);
      expect(await read(3)).toEqual([13, 14, 15]);
      expect(queue.ended).toBe(false);
    });
  });

  describe('with fail overflow (the default)', () => {
    it('ends at once, discards its buffer, and fails the reader with QueueOverflowError', async () => {
      let ended = 0;
      const overflows: boolean[] = [];
      const queue = new AsyncQueue<number>({ capacity: 2, onEnd: () => ended++, onOverflow: (first) => overflows.push(first) });
      expect(queue.push(1)).toBe(true);
      expect(queue.push(2)).toBe(true);
      expect(queue.push(3)).toBe(false);
      expect(queue.ended).toBe(true);
      expect(queue.size).toBe(0);
      expect(queue.dropped).toBe(3);
      expect(overflows).toEqual([true]);
      expect(ended).toBe(1);
      const failure = await queue.next().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(QueueOverflowError);
      expect((failure as QueueOverflowError).capacity).toBe(2);
      expect(await queue.next()).toEqual(done);
    });

    it('holds 1000 values by default', () => {
      const queue = new AsyncQueue<number>();
      let accepted = 0;
      for (let n = 0; n < 1000; n++) if (queue.push(n)) accepted += 1;
      expect(accepted).toBe(1000);
      expect(queue.push(1000)).toBe(false);
    });
  });

  it('refuses a capacity that could hold nothing', () => {
    expect(() => new AsyncQueue({ capacity: 0 })).toThrow(/capacity/);
    expect(() => new AsyncQueue({ capacity: 2.5 })).toThrow(/capacity/);
  });

  describe('pull', () => {
    it('is asked only when a reader waits on an empty queue, one call at a time', async () => {
      let pulls = 0;
      const queue: AsyncQueue<number> = new AsyncQueue<number>({
        pull: async () => {
          pulls += 1;
          await settle();
          queue.push(pulls);
        },
      });
      queue.push(0);
      expect(await queue.next()).toEqual({ value: 0, done: false });
      expect(pulls).toBe(0);
      const reads = [queue.next(), queue.next(), queue.next()];
      expect(pulls).toBe(1);
      expect(await Promise.all(reads)).toEqual([1, 2, 3].map((value) => ({ value, done: false })));
      expect(pulls).toBe(3);
      await settle();
      expect(pulls).toBe(3);
    });

    it('fails the queue when it rejects or throws', async () => {
      const rejecting = new AsyncQueue<number>({ pull: () => Promise.reject(new Error('store read failed')) });
      await expect(rejecting.next()).rejects.toThrow('store read failed');
      expect(rejecting.ended).toBe(true);
      const throwing = new AsyncQueue<number>({
        pull: () => {
          throw new Error('bad source');
        },
      });
      await expect(throwing.next()).rejects.toThrow('bad source');
      expect(await throwing.next()).toEqual(done);
    });
  });

  it('holds no timer or handle of its own', async () => {
    const before = process.getActiveResourcesInfo().length;
    const queue = new AsyncQueue<number>({ pull: () => new Promise(() => {}) });
    const pending = queue.next();
    queue.push(1);
    await pending;
    void queue.next();
    expect(process.getActiveResourcesInfo().length).toBe(before);
    await queue.return();
  });
});

describe('mapSource', () => {
  it('reads the source only as the reader asks, mapping each value and skipping undefined', async () => {
    const source = new ManualSource<number>();
    const queue = mapSource(source, (n) => (n % 2 === 0 ? `even ${n}` : undefined));
    expect(source.reads).toBe(0);
    const first = queue.next();
    expect(source.reads).toBe(1);
    source.give(1);
    await settle();
    source.give(2);
    expect(await first).toEqual({ value: 'even 2', done: false });
    await settle();
    expect(source.reads).toBe(2);
  });

  it('waits for an asynchronous map, keeping the order of values', async () => {
    async function* numbers() {
      yield* [30, 10, 20];
    }
    const queue = mapSource(numbers(), async (ms) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return ms;
    });
    const seen: number[] = [];
    for await (const value of queue) seen.push(value);
    expect(seen).toEqual([30, 10, 20]);
  });

  it('ends when the source ends, and returns it once', async () => {
    let ended = 0;
    const source = new ManualSource<number>();
    const queue = mapSource(source, (n) => n, { onEnd: () => ended++ });
    const pending = queue.next();
    source.finish();
    expect(await pending).toEqual(done);
    await queue.return();
    expect(ended).toBe(1);
    expect(source.returns).toBe(1);
  });

  it('returns the source at once while a read of it waits, and ends the waiting read', async () => {
    const source = new ManualSource<number>();
    const queue = mapSource(source, (n) => n);
    const pending = queue.next();
    await queue.return();
    expect(source.returns).toBe(1);
    expect(await pending).toEqual(done);
    await settle();
    expect(source.returns).toBe(1);
    expect(source.reads).toBe(1);
  });

  it('fails with the source’s error, and returns the source', async () => {
    const source = new ManualSource<number>();
    const queue = mapSource(source, (n) => n);
    const pending = queue.next();
    source.fail(new Error('the store went away'));
    await expect(pending).rejects.toThrow('the store went away');
    expect(source.returns).toBe(1);
    expect(await queue.next()).toEqual(done);
  });

  it('ends with what `recover` makes of a failure, after the values before it', async () => {
    const source = new ManualSource<string>();
    const queue = mapSource(source, (s) => s.toUpperCase(), { recover: (error) => `failed: ${(error as Error).message}` });
    const first = queue.next();
    source.give('a');
    expect(await first).toEqual({ value: 'A', done: false });
    const second = queue.next();
    await settle();
    source.fail(new Error('upstream closed'));
    expect(await second).toEqual({ value: 'failed: upstream closed', done: false });
    expect(await queue.next()).toEqual(done);
    expect(source.returns).toBe(1);
  });

  it('drops a value mapped after the queue ended', async () => {
    const source = new ManualSource<number>();
    let finishMap: (value: number) => void = () => {};
    const queue = mapSource(source, () => new Promise<number>((resolve) => (finishMap = resolve)));
    const pending = queue.next();
    source.give(1);
    await settle();
    queue.push(-1);
    queue.end();
    finishMap(1);
    expect(await pending).toEqual({ value: -1, done: false });
    expect(await queue.next()).toEqual(done);
  });
});
