import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type Redis from 'ioredis';
import type { DeadLetter, EventBus, EventEnvelope, EventHandler, EventType, SubscribeOptions, Subscription } from '../events';
import type { Logger } from '../logger';
import { quitRedis, redisConnection } from '../redis';

const DEFAULT_MAX_DELIVERIES = 5;
/**
 * How long acknowledgements wait for a read to carry them. Under load a read returns within
 * milliseconds; a quiet stream leaves the read blocked, and they are sent on their own.
 */
const ACK_DELAY_MS = 100;

export interface RedisStreamsEventBusOptions {
  /** redis:// or rediss:// URL of the server. */
  url: string;
  logger: Logger;
  /** First part of every key, so several shops (or test runs) share a server; default `shop`. */
  prefix?: string;
  /** Approximate length each event stream (and the dead-letter stream) is trimmed to; default 100000. */
  maxLen?: number;
  /**
   * A delivered event unacknowledged for this long (its consumer died, or its handler
   * failed) is taken over and delivered again; also how often that is checked. Default 30000 ms.
   */
  reclaimIdleMs?: number;
  /** How long one blocking read waits for new events before it looks again, in ms; default 5000. */
  blockMs?: number;
  /** Events read or reclaimed per stream at a time; default 20. */
  batchSize?: number;
  /** Events of one subscription being handled (or queued behind their aggregate's) before it reads more; default 100. */
  maxRunning?: number;
  /** How long `close` waits for running handlers before leaving their events to another consumer, in ms; default 10000. */
  closeGraceMs?: number;
  /** This process's consumer name in every group; default `<hostname>-<pid>-<random>`. */
  consumerName?: string;
}

/** One message as read from a stream: its id and flat field list (null when the entry was trimmed away). */
type StreamEntry = [id: string, fields: string[] | null];
type StreamReply = [stream: string, entries: StreamEntry[]][];
/** One message of a read with the stream it came from. */
interface ReadEntry {
  stream: string;
  id: string;
  fields: string[] | null;
}

interface SubscriptionState {
  group: string;
  streams: string[];
  handler: EventHandler;
  maxDeliveries: number;
  /** Connection for the blocking read only: a blocked connection cannot carry other commands. */
  blocking: Redis;
  /** `<stream> <id>` of messages read or claimed by this subscription and not finished yet. */
  owned: Set<string>;
  /** Ids per stream handled and not yet acknowledged: sent together, ahead of the next read. */
  acks: Map<string, string[]>;
  /** Sends `acks` on the command connection when no read has carried them within ACK_DELAY_MS. */
  ackTimer: NodeJS.Timeout | undefined;
  stop: AbortController;
  loops: Promise<unknown>;
  closing?: Promise<void>;
}

/**
 * The event bus on Redis Streams: one stream per event type (`<prefix>:events:<Type>`),
 * one consumer group per subscribing group, so each group sees every event and the
 * replicas in a group share them. A message is acknowledged after its handler succeeds;
 * a failed or abandoned one stays pending and is reclaimed (XAUTOCLAIM) once idle for
 * `reclaimIdleMs`, by whichever replica of the group looks first. The acknowledgements of the
 * events handled meanwhile go out together, in the same write as the next read (or on their
 * own when no read returns soon). After `maxDeliveries` deliveries it moves to
 * `<prefix>:dead-letters`. Events are handled side by side per aggregate (`aggregateId`), each
 * aggregate's one after another in publish order, while the next read goes on, up to
 * `maxRunning` at a time.
 */
export class RedisStreamsEventBus implements EventBus {
  readonly durable = true;
  private readonly commands: Redis;
  private readonly logger: Logger;
  private readonly prefix: string;
  private readonly maxLen: number;
  private readonly reclaimIdleMs: number;
  private readonly blockMs: number;
  private readonly batchSize: number;
  private readonly maxRunning: number;
  private readonly closeGraceMs: number;
  readonly consumerName: string;
  private readonly subscriptions = new Set<SubscriptionState>();
  /**
   * The last handler error per pending message, for the dead letter. In memory only:
   * a message this process did not see fail is dead-lettered with `unknown`.
   */
  private readonly lastErrors = new Map<string, string>();
  private closing: Promise<void> | undefined;

  constructor(options: RedisStreamsEventBusOptions) {
    this.logger = options.logger;
    this.prefix = options.prefix ?? 'shop';
    this.maxLen = options.maxLen ?? 100_000;
    this.reclaimIdleMs = options.reclaimIdleMs ?? 30_000;
    this.blockMs = options.blockMs ?? 5_000;
    this.batchSize = options.batchSize ?? 20;
    this.maxRunning = options.maxRunning ?? 100;
    this.closeGraceMs = options.closeGraceMs ?? 10_000;
    this.consumerName = options.consumerName ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.commands = redisConnection(options.url, `events-${this.consumerName}`, this.logger, 'commands');
  }

  /** The stream that carries events of one type. */
  streamKey(type: EventType): string {
    return `${this.prefix}:events:${type}`;
  }

  /** The stream dead letters are written to. */
  get deadLetterKey(): string {
    return `${this.prefix}:dead-letters`;
  }

  async publish(events: readonly EventEnvelope[]): Promise<void> {
    if (this.closing) throw new Error('event bus is closed');
    if (events.length === 0) return;
    // One pipeline keeps the events of a batch in their order within each stream.
    const pipeline = this.commands.pipeline();
    for (const event of events) {
      pipeline.xadd(this.streamKey(event.type), 'MAXLEN', '~', this.maxLen, '*', 'event', JSON.stringify(event));
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
  }

  subscribe(group: string, types: readonly EventType[], handler: EventHandler, options: SubscribeOptions = {}): Subscription {
    if (this.closing) throw new Error('event bus is closed');
    const state: SubscriptionState = {
      group,
      streams: [...new Set(types)].map((type) => this.streamKey(type)),
      handler,
      maxDeliveries: options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES,
      blocking: redisConnection(this.commands, `events-${this.consumerName}-${group}`, this.logger, `blocking:${group}`),
      owned: new Set(),
      acks: new Map(),
      ackTimer: undefined,
      stop: new AbortController(),
      loops: Promise.resolve(),
    };
    this.subscriptions.add(state);
    state.loops = this.ensureGroups(state).then(() =>
      Promise.allSettled([this.readLoop(state), this.reclaimLoop(state)]).then(() => undefined),
    );
    return { close: () => this.closeSubscription(state) };
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    const entries = (await this.commands.xrevrange(this.deadLetterKey, '+', '-', 'COUNT', limit)) as StreamEntry[];
    return entries.map(([id, fields]) => {
      const f = fieldMap(fields ?? []);
      const deadAt = f.deadAt ?? '';
      const parsed = parseEnvelope(f.event);
      return {
        // A malformed message is kept as its raw text, under its stream message id.
        event: parsed ?? ({ id: f.messageId ?? id, type: typeOfStream(f.stream), aggregateId: '', occurredAt: deadAt, payload: { raw: f.event ?? '' } } as unknown as EventEnvelope),
        group: f.group ?? '',
        deliveries: Number(f.deliveries ?? 0),
        lastError: f.lastError ?? 'unknown',
        deadAt,
      };
    });
  }

  async ready(): Promise<boolean> {
    if (this.closing) return false;
    const ping = this.commands.ping().then(
      (reply) => reply === 'PONG',
      () => false,
    );
    return Promise.race([ping, delay(1_000).then(() => false)]);
  }

  /** Stops every subscription (running handlers get `closeGraceMs`), then disconnects. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await Promise.all([...this.subscriptions].map((s) => this.closeSubscription(s)));
      await quitRedis(this.commands);
    })());
  }

  private async ensureGroups(state: SubscriptionState): Promise<void> {
    for (let attempt = 0; !state.stop.signal.aborted; attempt++) {
      try {
        for (const stream of state.streams) {
          // Starting at 0, not $: events published before the group's first subscriber are still its events.
          await this.commands.xgroup('CREATE', stream, state.group, '0', 'MKSTREAM').catch((error: Error) => {
            if (!String(error.message).startsWith('BUSYGROUP')) throw error;
          });
        }
        return;
      } catch (error) {
        this.logger.error({ err: error, group: state.group }, 'cannot create consumer groups; retrying');
        await delay(Math.min(5_000, 200 * 2 ** attempt), state.stop.signal);
      }
    }
  }

  /** New events: a blocking XREADGROUP over every stream of the subscription. */
  private async readLoop(state: SubscriptionState): Promise<void> {
    let failures = 0;
    /** The last handling queued per aggregate: its next event starts after it. */
    const tails = new Map<string, Promise<void>>();
    let running = 0;
    let room: (() => void) | undefined;
    const wake = () => {
      const resolve = room;
      room = undefined;
      resolve?.();
    };
    state.stop.signal.addEventListener('abort', wake);
    while (!state.stop.signal.aborted) {
      let reply: StreamReply | null;
      try {
        reply = await this.read(state, Math.min(this.batchSize, this.maxRunning - running));
        failures = 0;
      } catch (error) {
        if (state.stop.signal.aborted) break;
        failures += 1;
        this.logger.error({ err: error, group: state.group }, 'reading events failed; retrying');
        // The server may have lost the group (restarted without persistence).
        if (String((error as Error).message).includes('NOGROUP')) await this.ensureGroups(state);
        await delay(Math.min(5_000, 100 * 2 ** failures), state.stop.signal);
        continue;
      }
      for (const [stream, entries] of reply ?? []) {
        for (const [id] of entries) state.owned.add(ownedKey(stream, id));
      }
      // One aggregate's events (one order's, whichever streams carry them) are handled one after
      // another in publish order, after those of earlier reads; different aggregates side by side.
      // The next read does not wait for this one's handlers: waiting made each read's events wait
      // for its slowest handler, and the events that came meanwhile for all of them.
      for (const [key, entries] of byAggregate(reply ?? [])) {
        running += entries.length;
        const tail = (tails.get(key) ?? Promise.resolve()).then(async () => {
          for (const { stream, id, fields } of entries) {
            if (!state.stop.signal.aborted) await this.handle(state, stream, id, fields, 1);
            running -= 1;
            wake();
          }
        });
        tails.set(key, tail);
        void tail.then(() => {
          if (tails.get(key) === tail) tails.delete(key);
        });
      }
      while (running >= this.maxRunning && !state.stop.signal.aborted) await new Promise<void>((resolve) => (room = resolve));
    }
    await Promise.all(tails.values());
    // What was read but not started stays pending: another consumer reclaims it.
    state.owned.clear();
  }

  /**
   * The next read, with the acknowledgements of the events handled since the last one
   * written ahead of it: one write and one reply instead of a round trip per event. A
   * read that fails leaves them to be sent again (XACK of an acknowledged id does nothing).
   */
  private async read(state: SubscriptionState, count: number): Promise<StreamReply | null> {
    const acks = this.takeAcks(state);
    const pipeline = state.blocking.pipeline();
    for (const [stream, ids] of acks) pipeline.xack(stream, state.group, ...ids);
    pipeline.xreadgroup(
      'GROUP', state.group, this.consumerName,
      'COUNT', count,
      'BLOCK', this.blockMs,
      'STREAMS', ...state.streams, ...state.streams.map(() => '>'),
    );
    let results: [Error | null, unknown][];
    try {
      results = (await pipeline.exec()) ?? [];
    } catch (error) {
      this.requeueAcks(state, acks);
      throw error;
    }
    const [readError, reply] = results[results.length - 1] ?? [new Error('no reply to XREADGROUP'), null];
    if (results.slice(0, -1).some(([error]) => error)) this.requeueAcks(state, acks);
    if (readError) throw readError;
    return reply as StreamReply | null;
  }

  /** The acknowledgements to send now; their messages stop being kept alive as this subscription's. */
  private takeAcks(state: SubscriptionState): Map<string, string[]> {
    clearTimeout(state.ackTimer);
    state.ackTimer = undefined;
    const acks = state.acks;
    state.acks = new Map();
    for (const [stream, ids] of acks) for (const id of ids) state.owned.delete(ownedKey(stream, id));
    return acks;
  }

  /** A handled message stays owned (kept alive, not reclaimed) until its acknowledgement is sent. */
  private queueAck(state: SubscriptionState, stream: string, id: string): void {
    state.owned.add(ownedKey(stream, id));
    const queued = state.acks.get(stream);
    if (queued) queued.push(id);
    else state.acks.set(stream, [id]);
    if (state.ackTimer || state.stop.signal.aborted) return;
    state.ackTimer = setTimeout(() => {
      state.ackTimer = undefined;
      this.flushAcks(state).catch((error: unknown) =>
        this.logger.error({ err: error, group: state.group }, 'acknowledging handled events failed; they go with the next read'),
      );
    }, ACK_DELAY_MS);
    state.ackTimer.unref();
  }

  private requeueAcks(state: SubscriptionState, acks: Map<string, string[]>): void {
    for (const [stream, ids] of acks) for (const id of ids) this.queueAck(state, stream, id);
  }

  /** Sends the acknowledgements waiting for the next read now, on the command connection. */
  private async flushAcks(state: SubscriptionState): Promise<void> {
    const acks = this.takeAcks(state);
    if (acks.size === 0) return;
    const pipeline = this.commands.pipeline();
    for (const [stream, ids] of acks) pipeline.xack(stream, state.group, ...ids);
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
    } catch (error) {
      this.requeueAcks(state, acks);
      throw error;
    }
  }

  /** Events left pending (failed, or their consumer died): taken over once idle for `reclaimIdleMs`. */
  private async reclaimLoop(state: SubscriptionState): Promise<void> {
    while (!state.stop.signal.aborted) {
      for (const stream of state.streams) {
        if (state.stop.signal.aborted) return;
        try {
          await this.reclaimStream(state, stream);
        } catch (error) {
          if (state.stop.signal.aborted) return;
          this.logger.error({ err: error, group: state.group, stream }, 'reclaiming events failed');
        }
      }
      // Twice per idle period, so the keep-alive of a running handler's events beats the idle limit.
      await delay(this.reclaimIdleMs / 2, state.stop.signal);
    }
  }

  /**
   * Resets the idle time of the events this subscription holds (running or queued), without
   * counting a delivery: a handler slower than `reclaimIdleMs` keeps its event instead of
   * another replica starting it again. An event of a consumer that died stops being touched.
   */
  private async keepAlive(state: SubscriptionState, stream: string): Promise<void> {
    const prefix = ownedKey(stream, '');
    const ids = [...state.owned].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length));
    if (ids.length) await this.commands.xclaim(stream, state.group, this.consumerName, 0, ...ids, 'JUSTID');
  }

  private async reclaimStream(state: SubscriptionState, stream: string): Promise<void> {
    await this.keepAlive(state, stream);
    let cursor = '0-0';
    do {
      const [next, entries, deleted = []] = (await this.commands.xautoclaim(
        stream, state.group, this.consumerName, this.reclaimIdleMs, cursor, 'COUNT', this.batchSize,
      )) as [string, StreamEntry[], string[]?];
      cursor = next;
      // Entries trimmed from the stream while pending: nothing left to deliver (Redis 7 reports them apart, 6.2 as nil).
      const gone = [...deleted, ...entries.filter(([, fields]) => !fields).map(([id]) => id)];
      if (gone.length) await this.commands.xack(stream, state.group, ...gone);
      // Ours already and not finished (claimed before a keep-alive reached it): not delivered twice by one consumer.
      const claimed = entries.filter(([id, fields]) => fields && !state.owned.has(ownedKey(stream, id)));
      if (claimed.length === 0) continue;
      const pipeline = this.commands.pipeline();
      for (const [id] of claimed) pipeline.xpending(stream, state.group, id, id, 1);
      const pending = (await pipeline.exec()) ?? [];
      for (const [index, [id, fields]] of claimed.entries()) {
        if (state.stop.signal.aborted) return;
        const [error, rows] = pending[index] ?? [];
        // XAUTOCLAIM counted this delivery: deliveries so far include it.
        const deliveries = !error && Array.isArray(rows) && rows[0] ? Number((rows[0] as unknown[])[3]) : 1;
        state.owned.add(ownedKey(stream, id));
        await this.handle(state, stream, id, fields, deliveries);
      }
      // The read loop may be blocked for a while: what was taken over is acknowledged now.
      await this.flushAcks(state);
    } while (cursor !== '0-0' && !state.stop.signal.aborted);
  }

  /**
   * One delivery: `deliveries` counts this one. A message already delivered
   * `maxDeliveries` times without an acknowledgement (its consumer died) is dead-lettered
   * without calling the handler; a handler failing on the last delivery dead-letters it.
   */
  private async handle(state: SubscriptionState, stream: string, id: string, fields: string[] | null, deliveries: number): Promise<void> {
    const key = ownedKey(stream, id);
    const errorKey = `${state.group} ${key}`;
    let handled = false;
    try {
      const raw = fieldMap(fields ?? []).event;
      const event = parseEnvelope(raw);
      if (!event) {
        await this.deadLetter(state, stream, id, raw ?? '', deliveries, 'malformed message: not an event envelope');
        return;
      }
      if (deliveries - 1 >= state.maxDeliveries) {
        await this.deadLetter(state, stream, id, raw!, deliveries - 1, this.lastErrors.get(errorKey) ?? 'unknown');
        this.lastErrors.delete(errorKey);
        return;
      }
      try {
        await Promise.resolve().then(() => state.handler(event));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (deliveries >= state.maxDeliveries) {
          this.logger.error({ err: error, group: state.group, eventId: event.id, type: event.type, deliveries }, 'event dead-lettered');
          await this.deadLetter(state, stream, id, raw!, deliveries, message);
          this.lastErrors.delete(errorKey);
        } else {
          this.logger.warn({ group: state.group, eventId: event.id, type: event.type, deliveries, error: message }, 'event handler failed; will retry');
          this.rememberError(errorKey, message);
        }
        return;
      }
      this.lastErrors.delete(errorKey);
      // Closing: no read follows to carry the acknowledgement.
      if (state.stop.signal.aborted) await this.commands.xack(stream, state.group, id);
      else handled = true;
    } catch (error) {
      // Acknowledging or dead-lettering failed: the message stays pending and is reclaimed.
      this.logger.error({ err: error, group: state.group, stream, id }, 'event bookkeeping failed');
    } finally {
      state.owned.delete(key);
      if (handled) this.queueAck(state, stream, id);
    }
  }

  private async deadLetter(state: SubscriptionState, stream: string, id: string, raw: string, deliveries: number, lastError: string): Promise<void> {
    // Both or neither: a message is never lost between the two streams.
    const results = await this.commands
      .multi()
      .xadd(
        this.deadLetterKey, 'MAXLEN', '~', this.maxLen, '*',
        'group', state.group,
        'deliveries', String(deliveries),
        'lastError', lastError,
        'event', raw,
        'deadAt', new Date().toISOString(),
        'stream', stream,
        'messageId', id,
      )
      .xack(stream, state.group, id)
      .exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }

  private rememberError(key: string, message: string): void {
    // Bounded: messages that failed here and then succeeded elsewhere are never cleared otherwise.
    if (this.lastErrors.size >= 10_000) this.lastErrors.delete(this.lastErrors.keys().next().value!);
    this.lastErrors.delete(key);
    this.lastErrors.set(key, message);
  }

  private closeSubscription(state: SubscriptionState): Promise<void> {
    return (state.closing ??= (async () => {
      state.stop.abort();
      // Unblocks a waiting XREADGROUP at once; anything it would have read stays unread.
      state.blocking.disconnect();
      const finished = await Promise.race([state.loops.then(() => true), delay(this.closeGraceMs).then(() => false)]);
      try {
        await this.flushAcks(state);
      } catch (error) {
        this.logger.error({ err: error, group: state.group }, 'acknowledging handled events failed; they stay pending');
      }
      this.subscriptions.delete(state);
      // A sibling subscription of the same group shares the consumer name and may be reading into it now.
      const shared = [...this.subscriptions].some((s) => s.group === state.group);
      if (finished && !shared) await this.forgetConsumer(state);
      if (!finished) this.logger.warn({ group: state.group }, 'handlers still running at close; their events stay pending for another consumer');
    })());
  }

  /** Removes this consumer from the group when it holds nothing, so restarts do not pile up consumers. */
  private async forgetConsumer(state: SubscriptionState): Promise<void> {
    for (const stream of state.streams) {
      try {
        const held = (await this.commands.xpending(stream, state.group, '-', '+', 1, this.consumerName)) as unknown[];
        if (held.length === 0) await this.commands.xgroup('DELCONSUMER', stream, state.group, this.consumerName);
      } catch (error) {
        this.logger.warn({ err: error, group: state.group, stream }, 'could not remove consumer');
      }
    }
  }
}

/**
 * The entries of a read, one list per aggregate, each in publish order. Stream ids come from
 * the one server's clock, so they order the events of an aggregate across streams too (ties in
 * the same millisecond keep the order of the reply). A message that is not an envelope is a
 * list of its own: it only goes to the dead letters.
 */
function byAggregate(reply: StreamReply): Map<string, ReadEntry[]> {
  const groups = new Map<string, ReadEntry[]>();
  for (const [stream, entries] of reply) {
    for (const [id, fields] of entries) {
      const key = parseEnvelope(fieldMap(fields ?? []).event)?.aggregateId ?? ` ${ownedKey(stream, id)}`;
      const group = groups.get(key) ?? [];
      group.push({ stream, id, fields });
      groups.set(key, group);
    }
  }
  // By the millisecond only: sequence numbers count per stream, so within one millisecond the
  // stable sort keeps the reply's order (which is publish order within each stream).
  for (const list of groups.values()) if (list.length > 1) list.sort((a, b) => streamIdMs(a.id) - streamIdMs(b.id));
  return groups;
}

/** The server time, in ms, at which a message with this stream id (`<ms>-<seq>`) was added. */
function streamIdMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

function ownedKey(stream: string, id: string): string {
  return `${stream} ${id}`;
}

function fieldMap(fields: string[]): Record<string, string | undefined> {
  const map: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
  return map;
}

function typeOfStream(stream: string | undefined): string {
  return stream?.slice(stream.lastIndexOf(':') + 1) ?? '';
}

/** The envelope in a message, or null when the message is not one (bad JSON, missing fields). */
function parseEnvelope(raw: string | undefined): EventEnvelope | null {
  if (raw === undefined) return null;
  try {
    const value = JSON.parse(raw) as Partial<EventEnvelope> | null;
    if (!value || typeof value !== 'object') return null;
    if (typeof value.id !== 'string' || typeof value.type !== 'string' || typeof value.aggregateId !== 'string') return null;
    if (typeof value.occurredAt !== 'string' || value.payload === undefined) return null;
    return value as EventEnvelope;
  } catch {
    return null;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref?.();
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
