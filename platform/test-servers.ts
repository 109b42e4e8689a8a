/**
 * Throwaway PostgreSQL and Redis servers that a test owns, so it may stop, kill and
 * restart them (fault tests). They run from the Debian packages `.ci/run` installs, on
 * free ports, with their data in a temporary folder that `destroy` removes.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './testing';

/** A free TCP port on 127.0.0.1 (the operating system's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The newest PostgreSQL server binaries installed from Debian's packages, or undefined. */
export function postgresBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'pg_ctl')));
  versions.sort((a, b) => Number(a) - Number(b));
  const newest = versions.at(-1);
  return newest ? path.join(root, newest, 'bin') : undefined;
}

/** Whether this machine can run a PostgreSQL server (binaries) and a Redis server. */
export function canRunServers(): { postgres: boolean; redis: boolean } {
  let redis = false;
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    redis = true;
  } catch {
    redis = false;
  }
  return { postgres: postgresBinaries() !== undefined, redis };
}

/** Runs a PostgreSQL program as the `postgres` user when we are root (the server refuses to run as root). */
function runAsPostgres(program: string, args: string[]): void {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    execFileSync(program, args, { stdio: 'pipe' });
    return;
  }
  try {
    execFileSync('id', ['postgres'], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', 'postgres'], { stdio: 'ignore' });
  }
  const quoted = [program, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', quoted], { stdio: 'pipe' });
}

export interface TestPostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** A URL for database `name` on this server. */
  urlFor(name: string): string;
  /** Creates a database; resolves its URL. */
  createDatabase(name: string): Promise<string>;
  /** `pg_ctl stop -m immediate`: every backend dies at once, as in a crash or failover. */
  crash(): Promise<void>;
  /** Starts the server again on the same port and data. */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  destroy(): Promise<void>;
}

/** A server setting's name or value as `pg_ctl -o` can pass it on: no spaces or quotes. */
const PLAIN_SETTING = /^[\w.,:/-]+$/;

/**
 * Initialises and starts a PostgreSQL server of the test's own. `settings` go to the server
 * as `-c name=value` after the test defaults (benchmarks load `pg_stat_statements` this way).
 */
export async function startTestPostgres(settings: Readonly<Record<string, string>> = {}): Promise<TestPostgresServer> {
  for (const [name, value] of Object.entries(settings)) {
    if (!PLAIN_SETTING.test(name) || !PLAIN_SETTING.test(value)) throw new Error(`PostgreSQL setting ${name}=${value} must be plain words`);
  }
  const bin = postgresBinaries();
  if (!bin) throw new Error('no PostgreSQL server binaries (apt-get install postgresql)');
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'test-pg-'));
  fs.chmodSync(dir, 0o777);
  const data = path.join(dir, 'data');
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['--system', '--no-create-home', 'postgres'], { stdio: 'ignore' });
    }
    execFileSync('chown', ['postgres', dir]);
  }
  runAsPostgres(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const extra = Object.entries(settings).map(([name, value]) => ` -c ${name}=${value}`);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off${extra.join('')}`;
  const start = async () => {
    runAsPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o', options, 'start']);
    await waitUntil(() => accepting(port), `PostgreSQL on ${port}`);
  };
  await start();
  const urlFor = (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`;
  return {
    url,
    port,
    urlFor,
    createDatabase: async (name) => {
      runAsPostgres(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', `create database ${name}`]);
      return urlFor(name);
    },
    crash: async () => {
      runAsPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    },
    start,
    destroy: async () => {
      try {
        runAsPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped.
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestRedisServer {
  url: string;
  port: number;
  /** Kills the server (SIGKILL): no persistence, so it comes back empty, as a cache node would. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * Starts a Redis server of the test's own. `appendonly` keeps streams across a restart,
 * as a production event bus must (a Redis that forgets its streams forgets events).
 */
export async function startTestRedis(options: { appendonly?: boolean } = {}): Promise<TestRedisServer> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'test-redis-'));
  let child: ReturnType<typeof spawn> | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', options.appendonly ? 'yes' : 'no', '--appendfsync', 'always', '--dir', dir],
      { stdio: 'ignore' },
    );
    await waitUntil(() => accepting(port), `Redis on ${port}`);
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    destroy: async () => {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
