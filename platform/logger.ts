import pino from 'pino';

export type Logger = pino.Logger;

/** Fields never written to a log, whatever component logs them. */
const REDACT = [
  'password',
  '*.password',
  'input.password',
  'variables.input.password',
  'accessToken',
  '*.accessToken',
  'token',
  '*.token',
  'paymentToken',
  '*.paymentToken',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'passwordHash',
  '*.passwordHash',
  // Driver errors carry the statement's parameters, which can hold documents with secrets.
  'err.params',
  'err.parameters',
  'err.cause.params',
  'err.cause.parameters',
];

export interface LoggerOptions {
  /** pino level; default `info`. */
  level: string;
  /** Human-readable output for a terminal; default off (JSON lines). */
  pretty?: boolean;
}

/**
 * The one root logger of a process; components take children of it. JSON lines go to stdout
 * with a plain write each, on the calling thread: pino's default stream hands every line to
 * libuv's thread pool instead (an asynchronous `fs.write`), whose hand-over and completion
 * cost the payment subgraph a tenth of its CPU under checkout load, for two lines an order.
 * A line is also out before the next statement runs, so a crash loses none.
 */
export function createLogger(options: LoggerOptions): Logger {
  const settings = { level: options.level, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } };
  if (options.pretty) {
    return pino({
      ...settings,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss' } },
    });
  }
  return pino(settings, pino.destination({ dest: 1, sync: true }));
}

/** A logger that writes nothing, for tests that do not assert on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
