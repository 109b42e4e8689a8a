/**
 * What a push into a full buffer does:
 * - `drop-oldest`: the oldest value makes room, so a reader that falls behind loses the
 *   oldest values and keeps the newest (live updates, where the latest state matters);
 * - `fail`: the queue ends at once, its buffer discarded, and the reader's next `next()`
 *   rejects with a QueueOverflowError (a stream whose values must all arrive, or none).
 */
export type OverflowPolicy = 'drop-oldest' | 'fail';

export interface AsyncQueueOptions {
  /** Values held for a reader that has not taken them yet; default 1000. */
  capacity?: number;
  /** What a push into a full buffer does; default `fail`. */
  overflow?: OverflowPolicy;
  /**
   * Told of each overflow; `first` when the buffer had run empty since the previous one, so
   * a caller can warn once per episode of falling behind rather than once per value.
   */
  onOverflow?(first: boolean): void;
  /**
   * Asked for a value when a reader waits on an empty queue: it pushes, ends or fails the
   * queue, or rejects (which fails it). One call at a time; called again once it settles
   * while readers still wait, as long as each call pushed a value. Default none: values
   * come only from `push`.
   */
  pull?(): unknown;
  /** Runs exactly once, when the queue stops taking values: ended, failed, overflowed, returned or thrown. */
  onEnd?(): void;
}

/** Why a `fail` queue ended: values were pushed faster than its reader took them. */
export class QueueOverflowError extends Error {
  constructor(readonly capacity: number) {
    super(`more than ${capacity} values were waiting for the reader`);
    this.name = 'QueueOverflowError';
  }
}

export const DEFAULT_QUEUE_CAPACITY = 1000;

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

function ignore(): void {}

interface Waiter<T> {
  resolve(result: IteratorResult<T>): void;
  reject(error: unknown): void;
}

/**
 * A push-fed, pull-read async iterator with a bounded buffer: what a producer (a pub/sub
 * topic, an upstream WebSocket, a store read) pushes, a reader takes in order with
 * `for await` or `next()`.
 *
 * Not an async generator on purpose: a generator waiting for its next value queues
 * `return()` behind that wait, so a reader leaving a quiet stream would never be released.
 * Here `return()` ends the queue at once, settles every waiting `next()` as done, and runs
 * `onEnd`, exactly once however the queue ends.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private readonly capacity: number;
  private isEnded = false;
  /** Why the queue failed, for the `next()` after the buffered values; cleared once delivered. */
  private failure: { error: unknown } | undefined;
  private pulling = false;
  /** Values pushed so far: whether a pull made progress. */
  private pushes = 0;
  /** Overflowing since the buffer last ran empty. */
  private overflowing = false;
  private droppedCount = 0;

  constructor(private readonly options: AsyncQueueOptions = {}) {
    this.capacity = options.capacity ?? DEFAULT_QUEUE_CAPACITY;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new RangeError(`capacity must be a positive integer, not ${this.capacity}`);
  }

  /** Values waiting for the reader. */
  get size(): number {
    return this.buffer.length;
  }

  /** Whether the queue has stopped taking values (what it buffered may still be read). */
  get ended(): boolean {
    return this.isEnded;
  }

  /** Values lost to overflow since the queue opened. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Hands a value to a waiting reader, or buffers it; false once the queue has ended (the value is dropped). */
  push(value: T): boolean {
    if (this.isEnded) return false;
    this.pushes += 1;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve({ value, done: false });
      return true;
    }
    this.buffer.push(value);
    if (this.buffer.length <= this.capacity) return true;
    const first = !this.overflowing;
    this.overflowing = true;
    if (this.options.overflow === 'drop-oldest') {
      this.buffer.shift();
      this.droppedCount += 1;
      this.options.onOverflow?.(first);
      return true;
    }
    this.droppedCount += this.buffer.length;
    this.buffer.length = 0;
    this.options.onOverflow?.(first);
    this.end(new QueueOverflowError(this.capacity));
    return false;
  }

  /**
   * Stops taking values: the reader gets what is buffered, then `error` once (when given),
   * then done. Ending an ended queue does nothing.
   */
  end(error?: unknown): void {
    if (this.isEnded) return;
    this.isEnded = true;
    if (error !== undefined) this.failure = { error };
    if (this.buffer.length === 0) this.settleWaiters();
    this.options.onEnd?.();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) {
      const value = this.buffer.shift()!;
      if (this.buffer.length === 0) this.overflowing = false;
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.isEnded) return Promise.resolve(DONE);
    const waiting = new Promise<IteratorResult<T>>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.requestPull();
    return waiting;
  }

  /** The reader stops: buffered values are dropped, every waiting `next()` resolves done. */
  return(): Promise<IteratorResult<T>> {
    this.discard();
    return Promise.resolve(DONE);
  }

  /** Stops like `return`, and rejects with `error`. */
  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.discard();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private discard(): void {
    this.buffer.length = 0;
    this.failure = undefined;
    this.end();
  }

  /** Settles the readers waiting on an empty queue that has ended: the first gets the failure, if any. */
  private settleWaiters(): void {
    for (const waiter of this.waiters.splice(0)) {
      if (this.failure) {
        const { error } = this.failure;
        this.failure = undefined;
        waiter.reject(error);
      } else {
        waiter.resolve(DONE);
      }
    }
  }

  private requestPull(): void {
    const pull = this.options.pull;
    if (!pull || this.pulling) return;
    this.pulling = true;
    const pushes = this.pushes;
    let pulled: unknown;
    try {
      pulled = pull();
    } catch (error) {
      pulled = Promise.reject(error);
    }
    const settled = () => {
      this.pulling = false;
      // Readers still waiting get another pull; one that brought nothing is not repeated (it would spin).
      if (this.waiters.length > 0 && this.pushes !== pushes) this.requestPull();
    };
    Promise.resolve(pulled).then(settled, (error: unknown) => {
      this.end(error);
      settled();
    });
  }
}

/**
 * A queue read from `source` as its reader asks, one value at a time: each goes through
 * `map`, whose `undefined` skips it. A source that ends ends the queue; a source or `map`
 * that fails fails it, or ends it with `recover(error)` as its last value when given.
 * However the queue ends, `source.return()` is called once, at once (even while a read of
 * it waits).
 */
export function mapSource<S, T>(
  source: AsyncIterator<S>,
  map: (value: S) => T | undefined | PromiseLike<T | undefined>,
  options: Omit<AsyncQueueOptions, 'pull'> & { recover?: (error: unknown) => T } = {},
): AsyncQueue<T> {
  const { recover, onEnd, ...rest } = options;
  const queue: AsyncQueue<T> = new AsyncQueue<T>({
    ...rest,
    pull: async () => {
      try {
        for (;;) {
          const step = await source.next();
          if (queue.ended) return;
          if (step.done) return queue.end();
          const value = await map(step.value);
          if (value !== undefined) return void queue.push(value);
          if (queue.ended) return;
        }
      } catch (error) {
        if (!recover || queue.ended) throw error;
        queue.push(recover(error));
        queue.end();
      }
    },
    onEnd: () => {
      onEnd?.();
      returnQuietly(source);
    },
  });
  return queue;
}

/** Ends an iterator whose reader has stopped; its own failure to end changes nothing for the reader. */
function returnQuietly(source: AsyncIterator<unknown>): void {
  try {
    const returned = source.return?.();
    if (returned) Promise.resolve(returned).catch(ignore);
  } catch {
    // The source failed to stop: nothing the reader could do about it.
  }
}
