import { GraphQLError } from 'graphql';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { createServer } from 'node:net';
import { MongoClient, MongoNetworkError, MongoNetworkTimeoutError, MongoServerError } from 'mongodb';
import postgres from 'postgres';
import { reconnectDelaySeconds } from '../db';
import { createErrorFormatter, ShopError } from '../errors';
import { domainEvent } from '../events';
import { InProcessEventBus } from '../event-bus/in-process';
import { silentLogger } from '../logger';
import { eventConsumer, retryWhileStoreUnavailable } from '../outbox-relay';
import { answersWithin, isStoreUnavailable, STORE_RETRY_AFTER_SECONDS } from '../store-unavailable';
import { waitFor } from '../testing';

/** An error as postgres-js raises it for a connection (it sets `code` on a plain Error). */
function connectionError(code: string): Error {
  return Object.assign(new Error(`write ${code} 127.0.0.1:5432`), { code, errno: code, address: '127.0.0.1', port: 5432 });
}

/** An error as the PostgreSQL server answers it. */
function serverError(code: string, message = 'server says no'): Error {
  return new postgres.PostgresError({ code, message, severity: 'FATAL' } as never);
}

/** The way drizzle wraps what the driver threw. */
const wrapped = (cause: Error) => new DrizzleQueryError('insert into "orders" values ($1)', ['secret-param'], cause);

describe('isStoreUnavailable', () => {
  it.each(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED', 'CONNECT_TIMEOUT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'])(
    'recognises a connection that failed with %s, bare or wrapped by drizzle',
    (code) => {
      expect(isStoreUnavailable(connectionError(code))).toBe(true);
      expect(isStoreUnavailable(wrapped(connectionError(code)))).toBe(true);
    },
  );

  it.each([
    ['57P01', 'the server shutting down'],
    ['57P02', 'a crash shutdown'],
    ['57P03', 'a server still starting'],
    ['57014', 'a statement timeout'],
    ['53300', 'too many connections'],
    ['08006', 'a connection failure'],
    ['08001', 'a connection that could not be established'],
  ])('recognises SQLSTATE %s (%s)', (code) => {
    expect(isStoreUnavailable(serverError(code))).toBe(true);
    expect(isStoreUnavailable(wrapped(serverError(code)))).toBe(true);
  });

  it.each([
    ['23505', 'a unique violation'],
    ['23503', 'a foreign key violation'],
    ['42601', 'a syntax error'],
    ['40001', 'a serialization failure'],
    ['22P02', 'an invalid input'],
  ])('does not take SQLSTATE %s (%s) for an outage', (code) => {
    expect(isStoreUnavailable(wrapped(serverError(code)))).toBe(false);
  });

  it('looks through GraphQL errors, cause chains and aggregated connect errors', () => {
    const aggregate = new AggregateError([connectionError('ECONNREFUSED'), connectionError('ECONNREFUSED')], 'connect failed');
    expect(isStoreUnavailable(aggregate)).toBe(true);
    expect(isStoreUnavailable(new GraphQLError('failed', { originalError: wrapped(connectionError('ECONNRESET')) }))).toBe(true);
    expect(isStoreUnavailable(new Error('outer', { cause: new Error('middle', { cause: connectionError('CONNECTION_CLOSED') }) }))).toBe(true);
  });

  it('says no for ordinary failures and for things that are not errors, and survives a cycle', () => {
    const cyclic = new Error('a') as Error & { cause?: unknown };
    cyclic.cause = cyclic;
    for (const value of [new Error('boom'), new TypeError('x is undefined'), cyclic, null, undefined, 'ECONNREFUSED', 42, { code: 5 }]) {
      expect(isStoreUnavailable(value)).toBe(false);
    }
  });
});

/** A local port nothing listens on: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** What the MongoDB driver throws for a query when no server answers within `ms`. */
async function mongoSelectionFailure(ms = 200): Promise<unknown> {
  const client = new MongoClient(`mongodb://127.0.0.1:${await closedPort()}/shop`, { serverSelectionTimeoutMS: ms, connectTimeoutMS: ms });
  try {
    await client.db().collection('customers').findOne({});
    throw new Error('the query answered without a server');
  } catch (error) {
    return error;
  } finally {
    await client.close();
  }
}

/** An error as a MongoDB server answers it. */
const mongoServerError = (code: number, codeName: string) => new MongoServerError({ message: `${codeName} on server`, code, codeName });

describe('isStoreUnavailable on MongoDB', () => {
  it('recognises a server that cannot be selected, as the driver reports it', async () => {
    const error = await mongoSelectionFailure();
    expect(error).toMatchObject({ name: 'MongoServerSelectionError' });
    expect(isStoreUnavailable(error)).toBe(true);
    expect(isStoreUnavailable(new GraphQLError('failed', { originalError: error as Error }))).toBe(true);
  });

  it('recognises a connection that failed or timed out', () => {
    expect(isStoreUnavailable(new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed'))).toBe(true);
    expect(isStoreUnavailable(new MongoNetworkTimeoutError('connection 3 to 127.0.0.1:27017 timed out'))).toBe(true);
  });

  it.each([
    [10107, 'NotWritablePrimary'],
    [189, 'PrimarySteppedDown'],
    [91, 'ShutdownInProgress'],
    [11600, 'InterruptedAtShutdown'],
    [11602, 'InterruptedDueToReplStateChange'],
    [13436, 'NotPrimaryOrSecondary'],
  ])('recognises server code %s (%s)', (code, codeName) => {
    expect(isStoreUnavailable(mongoServerError(code, codeName))).toBe(true);
  });

  it.each([
    [11000, 'DuplicateKey'],
    [112, 'WriteConflict'],
    [2, 'BadValue'],
    [13, 'Unauthorized'],
  ])('does not take server code %s (%s) for an outage', (code, codeName) => {
    expect(isStoreUnavailable(mongoServerError(code, codeName))).toBe(false);
  });

  it('reads numeric codes only on the driver’s errors', () => {
    expect(isStoreUnavailable(Object.assign(new Error('not mongo'), { code: 91 }))).toBe(false);
  });
});

describe('the error formatter on a store outage', () => {
  const format = createErrorFormatter(silentLogger());
  const asApolloFormats = (error: Error) => {
    const graphqlError = new GraphQLError(error.message, { path: ['placeOrder'], originalError: error });
    return format({ message: error.message, path: ['placeOrder'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }, graphqlError);
  };

  it('answers SERVICE_UNAVAILABLE with a retry hint, and no internals', () => {
    const formatted = asApolloFormats(wrapped(connectionError('ECONNREFUSED')));
    expect(formatted.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: STORE_RETRY_AFTER_SECONDS });
    expect(formatted.path).toEqual(['placeOrder']);
    expect(formatted.message).not.toMatch(/ECONNREFUSED|insert|secret|127\.0\.0\.1/);
  });

  it('answers SERVICE_UNAVAILABLE when no MongoDB server can be selected, and no internals', async () => {
    const formatted = asApolloFormats((await mongoSelectionFailure()) as Error);
    expect(formatted.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: STORE_RETRY_AFTER_SECONDS });
    expect(formatted.message).not.toMatch(/127\.0\.0\.1|Server selection|ECONNREFUSED/);
  });

  it('still masks other failures as INTERNAL_SERVER_ERROR and passes the shop’s own errors', () => {
    expect(asApolloFormats(wrapped(serverError('23505'))).extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    const shop = new ShopError('CONFLICT', 'Already paid.');
    expect(format({ message: shop.message, extensions: { code: 'CONFLICT' } }, shop).extensions).toEqual({ code: 'CONFLICT' });
  });
});

describe('reconnectDelaySeconds', () => {
  it('starts near 50 ms and never waits more than half a second, however many failures the pool counted', () => {
    for (let i = 0; i < 200; i++) {
      expect(reconnectDelaySeconds(1)).toBeGreaterThanOrEqual(0.025);
      expect(reconnectDelaySeconds(1)).toBeLessThanOrEqual(0.05);
      for (const failures of [4, 10, 50, 10_000]) expect(reconnectDelaySeconds(failures)).toBeLessThanOrEqual(0.5);
    }
    expect(reconnectDelaySeconds(10_000)).toBeGreaterThanOrEqual(0.25);
  });
});

describe('answersWithin', () => {
  it('answers false once the time is up, and ignores a late rejection', async () => {
    const started = Date.now();
    let settled = false;
    const never = new Promise<boolean>((_, reject) => setTimeout(() => {
      settled = true;
      reject(new Error('late'));
    }, 2000));
    expect(await answersWithin(never, 50)).toBe(false);
    // Answered on its own time, not the promise's.
    expect(settled).toBe(false);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await answersWithin(Promise.resolve(true), 50)).toBe(true);
    expect(await answersWithin(Promise.reject(new Error('down')), 50)).toBe(false);
    await never.catch(() => undefined);
  });
});

describe('retrying a handler while its store is down', () => {
  const failing = (errors: unknown[]) => {
    let calls = 0;
    const attempt = async () => {
      const error = errors[calls++];
      if (error) throw error;
      return 'done';
    };
    return { attempt, calls: () => calls };
  };

  it('tries again until the store answers', async () => {
    const down = wrapped(connectionError('ECONNREFUSED'));
    const handler = failing([down, down, down]);
    expect(await retryWhileStoreUnavailable(handler.attempt, 10_000, new AbortController().signal)).toBe('done');
    expect(handler.calls()).toBe(4);
  });

  it('fails at once on any other error', async () => {
    const handler = failing([new Error('bad payload')]);
    await expect(retryWhileStoreUnavailable(handler.attempt, 10_000, new AbortController().signal)).rejects.toThrow('bad payload');
    expect(handler.calls()).toBe(1);
  });

  it('gives up with the last error once the wait is spent', async () => {
    const started = Date.now();
    const handler = failing(Array.from({ length: 100 }, () => connectionError('ECONNRESET')));
    await expect(retryWhileStoreUnavailable(handler.attempt, 400, new AbortController().signal)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(handler.calls()).toBeGreaterThan(1);
  });

  it('gives up promptly when the worker stops', async () => {
    const stop = new AbortController();
    const handler = failing(Array.from({ length: 100 }, () => connectionError('ECONNREFUSED')));
    const running = retryWhileStoreUnavailable(handler.attempt, 30_000, stop.signal);
    // Tries at 0, 0.1, 0.3, 0.7 and 1.5 s, then pauses 1.6 s: the stop lands in that pause.
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const tries = handler.calls();
    const stoppedAt = Date.now();
    stop.abort();
    await expect(running).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(Date.now() - stoppedAt).toBeLessThan(1000);
    expect(handler.calls()).toBe(tries);
  });
});

describe('an event consumer during a store outage', () => {
  it('handles the event once the store is back, spending no delivery, and dead-letters nothing', async () => {
    const bus = new InProcessEventBus(silentLogger(), () => 1);
    let outage = true;
    const attempts: string[] = [];
    const handled: string[] = [];
    const consumer = eventConsumer(
      async () => bus,
      'outage-listener',
      ['OrderConfirmed'],
      async (event) => {
        attempts.push(event.id);
        if (outage) throw wrapped(connectionError('ECONNREFUSED'));
        handled.push(event.id);
      },
      { maxDeliveries: 2 },
    );
    await consumer.start();
    const event = domainEvent('OrderConfirmed', 'order-1', { orderId: 'order-1' });
    await bus.publish([event]);
    // Far more attempts than the two deliveries allowed, without a dead letter.
    await waitFor('several attempts', () => attempts.length >= 4);
    outage = false;
    await waitFor('the event to be handled', () => handled.length === 1);
    expect(await bus.deadLetters()).toEqual([]);
    await consumer.stop();
    await bus.close();
  });

  it('still fails deliveries on other errors, and dead-letters after the last one', async () => {
    const bus = new InProcessEventBus(silentLogger(), () => 1);
    let attempts = 0;
    const consumer = eventConsumer(
      async () => bus,
      'broken-listener',
      ['OrderConfirmed'],
      async () => {
        attempts += 1;
        throw new Error('bad payload');
      },
      { maxDeliveries: 2 },
    );
    await consumer.start();
    await bus.publish([domainEvent('OrderConfirmed', 'order-2', { orderId: 'order-2' })]);
    await waitFor('the dead letter', async () => (await bus.deadLetters()).length === 1);
    expect(attempts).toBe(2);
    await consumer.stop();
    await bus.close();
  });

  it('stops promptly while a handler waits for its store', async () => {
    const bus = new InProcessEventBus(silentLogger(), () => 1);
    let attempts = 0;
    const consumer = eventConsumer(
      async () => bus,
      'waiting-listener',
      ['OrderConfirmed'],
      async () => {
        attempts += 1;
        throw connectionError('ECONNREFUSED');
      },
      { maxDeliveries: 1 },
    );
    await consumer.start();
    await bus.publish([domainEvent('OrderConfirmed', 'order-3', { orderId: 'order-3' })]);
    await waitFor('the handler to be waiting', () => attempts >= 2);
    const stopping = Date.now();
    await consumer.stop();
    expect(Date.now() - stopping).toBeLessThan(500);
    await bus.close();
  });
});
