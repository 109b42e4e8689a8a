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

/** The one root logger of a process; components take children of it. */
export function createLogger(options: LoggerOptions): Logger {
  return pino({
    level: options.level,
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
    ...(options.pretty
      ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss' } } }
      : {}),
  });
}

/** A logger that writes nothing, for tests that do not assert on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
