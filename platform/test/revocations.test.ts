import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { loadConfig } from '../config';
import { silentLogger } from '../logger';
import { InProcessPubSub, openPubSub } from '../pubsub';
import { EndedSessions, revocationsOn, type Revocations } from '../revocations';
import { TEST_REDIS_URL, waitFor } from '../testing';

describe('ended sessions in memory', () => {
  it('refuses a session until its horizon, then forgets it', () => {
    let now = 1_000;
    const ended = new EndedSessions(() => now);
    ended.add(['a', 'b'], 5_000);
    ended.add(['a'], 3_000);
    expect(ended.hasEnded('a')).toBe(true);
    expect(ended.hasEnded('c')).toBe(false);
    now = 4_999;
    // The later horizon of the two wins.
    expect(ended.hasEnded('a')).toBe(true);
    now = 5_000;
    expect(ended.hasEnded('a')).toBe(false);
    ended.prune();
    expect(ended.size).toBe(0);
    ended.add(['old'], 4_000);
    expect(ended.size).toBe(0);
  });
});

describe('revocations on the in-process pub/sub', () => {
  it('reaches every list on the same pub/sub, and not another process', async () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    const logger = silentLogger();
    const pubsub = new InProcessPubSub(logger);
    const elsewhere = new InProcessPubSub(logger);
    const [a, b, c] = await Promise.all([revocationsOn(config, logger, pubsub), revocationsOn(config, logger, pubsub), revocationsOn(config, logger, elsewhere)]);
    await a.revoke(['s1'], new Date(Date.now() + 60_000));
    expect(a.hasEnded('s1')).toBe(true);
    await waitFor('b to hear it', () => b.hasEnded('s1'), 1000);
    expect(c.hasEnded('s1')).toBe(false);
    await Promise.all([a, b, c].map((r) => r.close()));
    await pubsub.close();
    await elsewhere.close();
  });
});

const onRedis = TEST_REDIS_URL ? describe : describe.skip;
if (!TEST_REDIS_URL) process.stderr.write('SKIPPED: session revocations on Redis (set TEST_REDIS_URL)\n');

onRedis('revocations on Redis', () => {
  const prefix = `revocations-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({ NODE_ENV: 'test', REDIS_URL: TEST_REDIS_URL!, EVENT_STREAM_PREFIX: prefix });
  const logger = silentLogger();
  const opened: { close(): Promise<void> }[] = [];
  let redis: Redis;

  const open = async (options: { resyncMs?: number; deaf?: boolean } = {}): Promise<Revocations> => {
    // A deaf list hears no messages: like one whose subscription was reconnecting when they went out.
    const pubsub = options.deaf ? new InProcessPubSub(logger) : openPubSub(config, logger);
    const list = await revocationsOn(config, logger, pubsub, { ownsPubSub: true, ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}) });
    opened.push(list);
    return list;
  };

  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL!);
  });
  afterAll(async () => {
    for (const list of opened) await list.close();
    await redis.del(`${prefix}:sessions-ended`);
    redis.disconnect();
  });

  it('reaches a list in another process at once, and one that starts later loads it', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const until = new Date(Date.now() + 30_000);
    await a.revoke(['r1', 'r2'], until);
    const began = Date.now();
    await waitFor('the other process to hear it', () => b.hasEnded('r1') && b.hasEnded('r2'), 5000);
    expect(Date.now() - began).toBeLessThan(1000);

    const late = await open();
    expect(late.hasEnded('r1')).toBe(true);
    expect(late.hasEnded('never-ended')).toBe(false);
    // The record expires with its last entry, no later.
    const ttl = await redis.pttl(`${prefix}:sessions-ended`);
    expect(ttl).toBeGreaterThan(20_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('catches up on a message it missed, from the record', async () => {
    const deaf = await open({ deaf: true, resyncMs: 200 });
    const speaker = await open();
    await speaker.revoke(['missed'], new Date(Date.now() + 30_000));
    expect(deaf.hasEnded('missed')).toBe(false);
    await waitFor('the resync to load it', () => deaf.hasEnded('missed'), 2000);
  });

  it('forgets entries past their horizon, in memory and in the record', async () => {
    const list = await open();
    await list.revoke(['brief'], new Date(Date.now() + 300));
    expect(list.hasEnded('brief')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(list.hasEnded('brief')).toBe(false);
    const late = await open();
    expect(late.hasEnded('brief')).toBe(false);
  });
});
