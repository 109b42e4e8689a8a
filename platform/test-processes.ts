import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

export interface ServiceProcess {
  child: ChildProcess;
  /** The `/graphql` URL the process logged when it started listening. */
  url: string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
  /**
   * SIGKILL to the program and its launcher at once, as the kernel's OOM killer or a lost
   * node would; resolves once the launcher has exited.
   */
  kill(): Promise<void>;
  /** Everything the process has written so far, stdout and stderr (JSON log lines). */
  output(): string;
}

/**
 * Starts one of the project's programs (`router/main.ts`, `subgraphs/<name>/main.ts`) as
 * its own process, as a container would, and resolves once it logs that it listens.
 * `nodeArgs` are Node's own options for the program (`--cpu-prof`, say); tsx hands them on.
 */
export function startProcess(
  script: string,
  args: string[],
  env: Record<string, string>,
  startMs = 60_000,
  nodeArgs: readonly string[] = [],
): Promise<ServiceProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [require.resolve('tsx/cli'), ...nodeArgs, script, ...args], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '', LOG_LEVEL: 'info', LOG_PRETTY: 'false', NODE_ENV: 'test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own: the program runs in a child of the tsx launcher, which
      // cannot relay SIGKILL, so a kill goes to the whole group.
      detached: true,
    });
    let output = '';
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const kill = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
      await exited;
    };
    const timer = setTimeout(() => {
      // Not left running: it would hold its port, database and Redis connections.
      void kill();
      reject(new Error(`${script} did not start:\n${output}`));
    }, startMs);
    let started = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      // Looked for until found only: searching everything written so far on every chunk
      // costs a busy process's parent more with every line it logs.
      if (started) return;
      const match = /"url":"([^"]+)".*"msg":"listening"/.exec(output);
      if (match) {
        started = true;
        clearTimeout(timer);
        resolve({
          child,
          url: match[1]!,
          output: () => output,
          kill,
          stop: async () => {
            if (child.exitCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}:\n${output}`));
    });
  });
}
