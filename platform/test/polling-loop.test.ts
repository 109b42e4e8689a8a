import { PollingLoop, type PollingLoopOptions } from '../polling-loop';

/** A pass that answers from a script: a number is what it delivered, an Error is a failure. */
function scripted(answers: (number | Error)[], fallback: number | Error = 0) {
  const times: number[] = [];
  const start = Date.now();
  const pass = jest.fn(async () => {
    times.push(Date.now() - start);
    const answer = answers.length > 0 ? answers.shift()! : fallback;
    if (answer instanceof Error) throw answer;
    return answer;
  });
  return { pass, times };
}

describe('polling loop', () => {
  let loop: PollingLoop | undefined;

  beforeEach(() => jest.useFakeTimers());
  afterEach(async () => {
    const stopping = loop?.stop();
    await jest.runOnlyPendingTimersAsync();
    await stopping;
    loop = undefined;
    jest.useRealTimers();
  });

  function make(options: Partial<PollingLoopOptions> & Pick<PollingLoopOptions, 'pass'>): PollingLoop {
    loop = new PollingLoop({ pollMs: 100, idlePollMs: 800, ...options });
    return loop;
  }

  it('looks at once on start, soon again after a delivery, then less and less often while nothing waits', async () => {
    const { pass, times } = scripted([3, 2]);
    make({ pass }).start();
    await jest.advanceTimersByTimeAsync(5_000);
    // 0: delivered; +100: delivered; +100: empty; then pauses of 100, 200, 400, 800, 800...
    expect(times.slice(0, 8)).toEqual([0, 100, 200, 300, 500, 900, 1700, 2500]);
  });

  it('a notify brings the idle pause back, and one during a pass runs another right after it', async () => {
    let release: () => void = () => {};
    const times: number[] = [];
    const pass = jest.fn(async () => {
      times.push(Date.now());
      if (times.length === 5) await new Promise<void>((resolve) => (release = resolve));
      return 0;
    });
    const started = Date.now();
    const polling = make({ pass });
    polling.start();
    await jest.advanceTimersByTimeAsync(1_600); // passes at 0, 100, 300, 700, 1500: the pause is 800 now
    expect(times.map((t) => t - started)).toEqual([0, 100, 300, 700, 1500]);
    polling.notify(); // during the fifth pass, which waits
    release();
    await jest.advanceTimersByTimeAsync(0);
    expect(times).toHaveLength(6);
    expect(times[5]! - started).toBe(1600);
    // The notify made the next pause the shortest again.
    await jest.advanceTimersByTimeAsync(100);
    expect(times).toHaveLength(7);
  });

  it('pauses longer after each failure in a row, up to its longest, and says when passes work again', async () => {
    const failures: number[] = [];
    const recoveries: number[] = [];
    const { pass, times } = scripted([new Error('a'), new Error('b'), new Error('c'), new Error('d'), new Error('e'), 1]);
    make({ pass, retryMaxMs: 500, onFailure: (_, n) => failures.push(n), onRecovery: (n) => recoveries.push(n) }).start();
    await jest.advanceTimersByTimeAsync(2_000);
    // Pauses of 100, 200, 400, 500, 500 after the failures.
    expect(times.slice(0, 6)).toEqual([0, 100, 300, 700, 1200, 1700]);
    expect(failures).toEqual([1, 2, 3, 4, 5]);
    expect(recoveries).toEqual([5]);
  });

  it('without a longest retry pause, retries at the poll interval', async () => {
    const { pass, times } = scripted([new Error('a'), new Error('b'), new Error('c')]);
    make({ pass }).start();
    await jest.advanceTimersByTimeAsync(350);
    expect(times).toEqual([0, 100, 200, 300]);
  });

  it.each([
    [true, 'looks at once'],
    [false, 'leaves the retry pause as it is'],
  ])('with notifyEndsRetryPause %s, a notify while passes fail %s', async (ends) => {
    const { pass, times } = scripted([new Error('down'), new Error('down'), new Error('down')]);
    const polling = make({ pass, retryMaxMs: 10_000, notifyEndsRetryPause: ends });
    polling.start();
    await jest.advanceTimersByTimeAsync(350); // failures at 0, 100, 300: the next try waits 400
    expect(times).toEqual([0, 100, 300]);
    polling.notify();
    await jest.advanceTimersByTimeAsync(0);
    expect(times).toEqual(ends ? [0, 100, 300, 350] : [0, 100, 300]);
  });

  it('stop waits for the pass under way and runs none after it, however it is told', async () => {
    let release: () => void = () => {};
    const pass = jest.fn(() => new Promise<number>((resolve) => (release = () => resolve(1))));
    const polling = make({ pass });
    polling.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(pass).toHaveBeenCalledTimes(1);
    let stopped = false;
    const stopping = polling.stop().then(() => (stopped = true));
    expect(polling.stopping).toBe(true);
    polling.notify();
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    release();
    await stopping;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(pass).toHaveBeenCalledTimes(1);
  });
});
