/**
 * Ended sessions, known to every process within seconds, so that the access tokens of a
 * signed-out or revoked session are refused everywhere before they expire.
 *
 * The customer subgraph ends sessions and calls `revoke`; every process (each subgraph,
 * the router) holds a `Revocations` and attaches it with `AccessTokens.useRevocations`.
 * An ended session is remembered only until the access tokens it may have been issued
 * expire (`until`), so memory stays bounded by what one token lifetime can end.
 *
 * How it travels: a message on the process's pub/sub (Redis pub/sub with REDIS_URL, else
 * in-process) reaches running processes at once. Pub/sub keeps nothing, so with Redis each
 * revocation is also written to a sorted set (member: session id, score: `until`) whose key
 * expires with its last entry; a process loads it when it starts and again every
 * `resyncMs`, so one that missed a message while reconnecting catches up.
 */
import type Redis from 'ioredis';
import type { SessionRevocations } from './auth';
import type { Config } from './config';
import type { Logger } from './logger';
import { openPubSub, type LiveSubscription, type PubSub } from './pubsub';
import { Timers } from './periodic';
import { quitRedis, redisConnection } from './redis';

/** The pub/sub topic of ended sessions. */
export const SESSIONS_ENDED_TOPIC = 'sessions:ended';

/** Default pause between loads of the Redis list, in ms: the longest a missed message goes unnoticed. */
export const DEFAULT_RESYNC_MS = 4_000;

/** How long opening waits for the first subscription and load before serving anyway, in ms. */
const OPEN_WAIT_MS = 5_000;

/** Pause before subscribing again after the subscription failed, in ms. */
const RESUBSCRIBE_MS = 1_000;

/** How often entries past their horizon are dropped from memory, in ms. */
const PRUNE_MS = 60_000;

/** What is published when sessions end: their ids and when their last access token expires (epoch ms). */
interface SessionsEnded {
  sessionIds: string[];
  until: number;
}

function isSessionsEnded(message: unknown): message is SessionsEnded {
  const m = message as SessionsEnded;
  return (
    typeof m === 'object' &&
    m !== null &&
    Array.isArray(m.sessionIds) &&
    m.sessionIds.every((id) => typeof id === 'string') &&
    typeof m.until === 'number'
  );
}

/** The ended sessions one process knows of, each until its horizon. Pure memory. */
export class EndedSessions implements Pick<SessionRevocations, 'hasEnded'> {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  hasEnded(sessionId: string): boolean {
    const until = this.until.get(sessionId);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.until.delete(sessionId);
    return false;
  }

  /** Remembers `sessionIds` as ended until `until` (epoch ms); a later horizon wins. */
  add(sessionIds: readonly string[], until: number): void {
    if (until <= this.now()) return;
    for (const id of sessionIds) this.until.set(id, Math.max(until, this.until.get(id) ?? 0));
  }

  /** Forgets entries past their horizon. */
  prune(): void {
    const now = this.now();
    for (const [id, until] of this.until) if (until <= now) this.until.delete(id);
  }

  get size(): number {
    return this.until.size;
  }
}

/** The process's view of ended sessions, and (in the customer subgraph) the way to end them everywhere. */
export interface Revocations extends SessionRevocations {
  /**
   * Remembered here at once, then recorded (Redis) and published. Rejects when the record
   * or the message could not be sent; what is remembered here stays.
   */
  revoke(sessionIds: readonly string[], until: Date): Promise<void>;
  /** Remembers sessions as ended in this process only (already recorded elsewhere). */
  remember(sessionIds: readonly string[], until: Date): void;
  /** Whether messages can be published and received now. */
  ready(): Promise<boolean>;
  /** Stops listening; closes the pub/sub when it opened it. Idempotent. */
  close(): Promise<void>;
}

export interface RevocationOptions {
  logger: Logger;
  /** The process's pub/sub. */
  pubsub: PubSub;
  /** Closed with the revocations: true when they opened it themselves. */
  ownsPubSub?: boolean;
  /** With a Redis URL ended sessions are also kept there, for processes that start or reconnect later. */
  redis?: { url: string; key: string };
  /** Pause between loads of the Redis list, in ms; default 4000. */
  resyncMs?: number;
}

class PubSubRevocations implements Revocations {
  private readonly ended = new EndedSessions();
  private readonly logger: Logger;
  private readonly redis: Redis | undefined;
  private subscription: LiveSubscription | undefined;
  private readonly timers: Timers;
  private closing: Promise<void> | undefined;
  /** Resolves once subscribed and (with Redis) loaded the first time. */
  readonly opened: Promise<void>;

  constructor(private readonly options: RevocationOptions) {
    this.logger = options.logger;
    this.timers = new Timers(this.logger);
    this.redis = options.redis ? redisConnection(options.redis.url, `revocations-${process.pid}`, this.logger, 'revocations') : undefined;
    const listening = this.listen();
    const loaded = this.redis ? this.load() : Promise.resolve();
    this.opened = Promise.all([listening, loaded]).then(() => undefined);
    this.timers.every(PRUNE_MS, 'prune ended sessions', async () => this.ended.prune());
    if (this.redis) this.timers.every(options.resyncMs ?? DEFAULT_RESYNC_MS, 'reload ended sessions', () => this.load());
  }

  hasEnded(sessionId: string): boolean {
    return this.ended.hasEnded(sessionId);
  }

  remember(sessionIds: readonly string[], until: Date): void {
    this.ended.add(sessionIds, until.getTime());
  }

  async revoke(sessionIds: readonly string[], until: Date): Promise<void> {
    if (sessionIds.length === 0) return;
    const at = until.getTime();
    this.ended.add(sessionIds, at);
    if (this.redis && this.options.redis) {
      const { key } = this.options.redis;
      // name: record-ended-sessions — add, drop what is past its horizon, and let the key
      // expire with its latest entry (NX sets a first expiry, GT only ever extends it).
      await this.redis
        .multi()
        .zadd(key, ...sessionIds.flatMap((id) => [at, id]))
        .zremrangebyscore(key, '-inf', Date.now())
        .pexpireat(key, at, 'NX')
        .pexpireat(key, at, 'GT')
        .exec();
    }
    const message: SessionsEnded = { sessionIds: [...sessionIds], until: at };
    await this.options.pubsub.publish(SESSIONS_ENDED_TOPIC, message);
  }

  async ready(): Promise<boolean> {
    if (this.closing) return false;
    if (this.redis && this.redis.status !== 'ready') return false;
    return this.options.pubsub.ready();
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.timers.clear();
      await this.subscription?.return();
      if (this.redis) await quitRedis(this.redis);
      if (this.options.ownsPubSub) await this.options.pubsub.close();
    })());
  }

  /** Subscribes and takes messages until closed; subscribes again when the subscription fails. */
  private listen(): Promise<void> {
    const subscription = this.options.pubsub.subscribe(SESSIONS_ENDED_TOPIC);
    this.subscription = subscription;
    void (async () => {
      try {
        for await (const message of subscription) {
          if (isSessionsEnded(message)) this.ended.add(message.sessionIds, message.until);
          else this.logger.warn('malformed sessions-ended message skipped');
        }
      } catch (err) {
        this.logger.error({ err }, 'session revocations subscription failed; subscribing again');
      }
      if (!this.closing) this.timers.after(RESUBSCRIBE_MS, () => void this.listen().catch(() => {}));
    })();
    return subscription.listening;
  }

  /** Loads every ended session still within its horizon from Redis. */
  private async load(): Promise<void> {
    if (!this.redis || !this.options.redis || this.closing) return;
    // name: load-ended-sessions — those whose access tokens may still be valid.
    const flat = await this.redis.zrangebyscore(this.options.redis.key, `(${Date.now()}`, '+inf', 'WITHSCORES');
    for (let i = 0; i + 1 < flat.length; i += 2) this.ended.add([flat[i]!], Number(flat[i + 1]));
  }
}

/**
 * The process's revocations on `pubsub`, with the Redis record when REDIS_URL is set (key
 * `<EVENT_STREAM_PREFIX>:sessions-ended`). Resolves once subscribed and loaded, or after
 * a few seconds when Redis does not answer (it keeps trying in the background).
 */
export async function revocationsOn(
  config: Pick<Config, 'REDIS_URL' | 'EVENT_STREAM_PREFIX'>,
  logger: Logger,
  pubsub: PubSub,
  options: { ownsPubSub?: boolean; resyncMs?: number } = {},
): Promise<Revocations> {
  const log = logger.child({ component: 'revocations' });
  const revocations = new PubSubRevocations({
    logger: log,
    pubsub,
    ...options,
    ...(config.REDIS_URL ? { redis: { url: config.REDIS_URL, key: `${config.EVENT_STREAM_PREFIX}:sessions-ended` } } : {}),
  });
  let timer: NodeJS.Timeout | undefined;
  const waited = await Promise.race([
    revocations.opened.then(
      () => 'opened' as const,
      (err: unknown) => {
        log.warn({ err }, 'session revocations not loaded yet; will retry');
        return 'failed' as const;
      },
    ),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), OPEN_WAIT_MS))),
  ]);
  clearTimeout(timer);
  if (waited === 'timeout') log.warn('session revocations not loaded within the wait; serving, and loading in the background');
  return revocations;
}

/**
 * For a process without a pub/sub of its own (the router): opens one as configured
 * (Redis with REDIS_URL, else in-process) and closes it with the revocations.
 */
export function openRevocations(config: Pick<Config, 'REDIS_URL' | 'EVENT_STREAM_PREFIX'>, logger: Logger): Promise<Revocations> {
  return revocationsOn(config, logger, openPubSub(config, logger), { ownsPubSub: true });
}
