import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * What the shop's processes write to their logs: JSON lines on stdout, secrets censored
 * wherever the usual fields carry them. Run in a Node process of its own, since the logger
 * writes straight to file descriptor 1.
 */
const LOGGER = path.resolve(__dirname, '..', 'logger.ts');
const PROBE = `
const { createLogger } = require(${JSON.stringify(LOGGER)});
const log = createLogger({ level: 'info' }).child({ component: 'probe' });
log.info({ orderId: 'order-1', password: 'secret-password-1' }, 'top-level password');
log.info({ input: { email: 'a@b.c', password: 'secret-password-2' } }, 'nested password');
log.info({ customer: { passwordHash: 'secret-hash-3', name: 'Ann' } }, 'any object with a password hash');
log.info({ token: 'secret-token-4', session: { accessToken: 'secret-token-5' }, checkout: { paymentToken: 'tok_secret6' } }, 'tokens');
log.info({ req: { method: 'POST', headers: { authorization: 'Bearer secret-7', cookie: 'sid=secret-8', 'user-agent': 'probe' } } }, 'request');
log.info({ variables: { input: { password: 'secret-password-9' } } }, 'GraphQL variables');
const err = Object.assign(new Error('insert failed'), { params: ['secret-param-10'], cause: { parameters: ['secret-param-11'] } });
log.error({ err }, 'driver error');
log.debug({ password: 'secret-debug-12' }, 'below the level');
`;

function lines(): Record<string, any>[] {
  const output = execFileSync(process.execPath, ['--import', 'tsx', '-e', PROBE], { cwd: path.resolve(__dirname, '..', '..'), encoding: 'utf8' });
  return output
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, any>);
}

describe('the logger', () => {
  let logged: Record<string, any>[];
  beforeAll(() => {
    logged = lines();
  });

  it('writes one JSON line per call at or above its level, with the child bindings', () => {
    expect(logged.map((line) => line.msg)).toEqual([
      'top-level password',
      'nested password',
      'any object with a password hash',
      'tokens',
      'request',
      'GraphQL variables',
      'driver error',
    ]);
    for (const line of logged) expect(line).toMatchObject({ component: 'probe', pid: expect.any(Number) });
  });

  it('censors passwords, tokens, credentials and driver parameters, and keeps everything else', () => {
    const text = JSON.stringify(logged);
    expect(text).not.toMatch(/secret/);
    const [top, nested, hash, tokens, request, variables, driver] = logged;
    expect(top).toMatchObject({ orderId: 'order-1', password: '[redacted]' });
    expect(nested!.input).toEqual({ email: 'a@b.c', password: '[redacted]' });
    expect(hash!.customer).toEqual({ passwordHash: '[redacted]', name: 'Ann' });
    expect(tokens).toMatchObject({ token: '[redacted]', session: { accessToken: '[redacted]' }, checkout: { paymentToken: '[redacted]' } });
    expect(request!.req.headers).toEqual({ authorization: '[redacted]', cookie: '[redacted]', 'user-agent': 'probe' });
    expect(variables!.variables.input.password).toBe('[redacted]');
    expect(driver!.err).toMatchObject({ message: 'insert failed', params: '[redacted]', cause: { parameters: '[redacted]' } });
  });
});
