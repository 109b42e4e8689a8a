/**
 * A push-fed async iterator of one subscription's results, in the order pushed.
 *
 * Not an async generator on purpose: a generator waiting for its next event queues
 * `return()` behind that wait, so a client that unsubscribes from a quiet stream would
 * never be released. Here `return()` ends the stream at once and runs the cleanup.
 */
export class EventStream<T> implements AsyncIterableIterator<T> {
  private readonly buffered: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private released = false;

  /** `onRelease` runs exactly once, when the stream ends by any path. */
  constructor(private readonly onRelease: () => void = () => {}) {}

  /** Queues a value; ignored once the stream has ended. */
  push(value: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value, done: false });
    } else {
      this.buffered.push(value);
    }
  }

  /** Ends the stream after the values already queued have been read. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    if (this.waiting && this.buffered.length === 0) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  }

  /** Values queued and not yet read. */
  get backlog(): number {
    return this.buffered.length;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffered.length > 0) return Promise.resolve({ value: this.buffered.shift()!, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** The reader stops: queued values are dropped and a pending `next` resolves as done. */
  return(): Promise<IteratorResult<T>> {
    this.buffered.length = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }
}
