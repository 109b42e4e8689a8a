/**
 * Two replicas of the customer subgraph, as containers run them, sharing PostgreSQL and
 * Redis: a session ended through one is refused by the other within seconds, a replica
 * started afterwards refuses it too, and failed sign-ins are counted across both.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateTokenPems } from '../../../platform/auth';
import { startProcess, type ServiceProcess } from '../../../platform/test-processes';
import { createTestDatabase, postGraphQL, TEST_DATABASE_URL, TEST_REDIS_URL, waitFor, type GraphQLResponse } from '../../../platform/testing';

const run = TEST_DATABASE_URL && TEST_REDIS_URL ? describe : describe.skip;
if (!(TEST_DATABASE_URL && TEST_REDIS_URL)) {
  process.stderr.write('SKIPPED: session revocation across customer replicas (set TEST_DATABASE_URL and TEST_REDIS_URL)\n');
}

jest.setTimeout(180_000);

const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { accessToken refreshToken } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { accessToken } }`;
const ME = `query { me { id } }`;
const codeOf = (response: GraphQLResponse) => response.errors?.[0]?.extensions?.code;

run('customer replicas on Redis', () => {
  const processes: ServiceProcess[] = [];
  let dropDatabase: (() => Promise<void>) | undefined;
  let env: Record<string, string>;
  let first: ServiceProcess;
  let second: ServiceProcess;

  beforeAll(async () => {
    const database = await createTestDatabase();
    dropDatabase = database.drop;
    const keys = generateTokenPems();
    env = {
      CUSTOMER_DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL!,
      EVENT_STREAM_PREFIX: `sessions-${randomBytes(6).toString('hex')}`,
      JWT_PRIVATE_KEY: keys.privateKey,
      JWT_PUBLIC_KEY: keys.publicKey,
      CUSTOMER_PORT: '0',
      SEED_DEMO: 'false',
      LOGIN_MAX_FAILURES_PER_EMAIL: '3',
      DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'customer-replica-')),
    };
    // One after the other: the first applies the migrations.
    first = await startProcess('subgraphs/customer/main.ts', [], env);
    processes.push(first);
    second = await startProcess('subgraphs/customer/main.ts', [], env);
    processes.push(second);
  });

  afterAll(async () => {
    for (const service of processes.reverse()) expect(await service.stop()).toBe(0);
    await dropDatabase?.();
  });

  it('refuses a session ended on one replica on the other within 5 s, and on a replica started later', async () => {
    const registered = await postGraphQL(first.url, REGISTER, { input: { email: 'replica@example.com', password: 'correct horse battery', name: 'R' } });
    expect(registered.errors).toBeUndefined();
    const auth = { authorization: `Bearer ${registered.data!.register.accessToken}` };
    expect((await postGraphQL(second.url, ME, {}, auth)).errors).toBeUndefined();

    expect((await postGraphQL(first.url, `mutation { logout }`, {}, auth)).data).toEqual({ logout: true });
    const began = Date.now();
    await waitFor('the other replica to refuse the token', async () => codeOf(await postGraphQL(second.url, ME, {}, auth)) === 'UNAUTHENTICATED', 5000);
    const ms = Date.now() - began;
    process.stdout.write(`session ended on one replica was refused by the other after ${ms} ms\n`);
    expect(ms).toBeLessThan(5000);

    // Pub/sub keeps nothing: a replica that starts now learns of the session from the Redis record.
    const late = await startProcess('subgraphs/customer/main.ts', [], env);
    processes.push(late);
    expect(codeOf(await postGraphQL(late.url, ME, {}, auth))).toBe('UNAUTHENTICATED');
  });

  it('counts failed sign-ins for one email across replicas', async () => {
    await postGraphQL(first.url, REGISTER, { input: { email: 'guessed@example.com', password: 'correct horse battery', name: 'G' } });
    const attempt = (url: string, password: string) => postGraphQL(url, LOGIN, { input: { email: 'guessed@example.com', password } });
    expect(codeOf(await attempt(first.url, 'wrong guess 1'))).toBe('UNAUTHENTICATED');
    expect(codeOf(await attempt(second.url, 'wrong guess 2'))).toBe('UNAUTHENTICATED');
    expect(codeOf(await attempt(first.url, 'wrong guess 3'))).toBe('UNAUTHENTICATED');
    const throttled = await attempt(second.url, 'correct horse battery');
    expect(throttled.errors?.[0]?.extensions).toMatchObject({ code: 'THROTTLED', retryAfterSeconds: expect.any(Number) });
  });
});
