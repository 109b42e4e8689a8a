import { EventStream } from '../event-stream';

describe('EventStream', () => {
  it('yields pushed values in order, including ones pushed while a read waits', async () => {
    const stream = new EventStream<number>();
    stream.push(1);
    const waiting = (async () => {
      await stream.next();
      return stream.next();
    })();
    await new Promise((resolve) => setImmediate(resolve));
    stream.push(2);
    expect(await waiting).toEqual({ value: 2, done: false });
  });

  it('delivers what is queued before ending, then stays done and ignores later pushes', async () => {
    let released = 0;
    const stream = new EventStream<string>(() => released++);
    stream.push('a');
    stream.push('b');
    stream.end();
    stream.push('c');
    const seen: string[] = [];
    for await (const value of stream) seen.push(value);
    expect(seen).toEqual(['a', 'b']);
    expect(released).toBe(1);
  });

  it('releases a reader waiting on a quiet stream at once when it returns, and cleans up once', async () => {
    let released = 0;
    const stream = new EventStream<string>(() => released++);
    const pending = stream.next();
    await stream.return();
    expect(await pending).toEqual({ value: undefined, done: true });
    stream.end();
    expect(released).toBe(1);
  });

  it('drops queued values when the reader returns', async () => {
    const stream = new EventStream<number>();
    stream.push(1);
    await stream.return();
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    expect(stream.backlog).toBe(0);
  });
});
