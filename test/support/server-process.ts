import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/lib/paths';
import { TEST_SESSION_SECRET } from './context';

export interface ServerProcess {
  child: ChildProcess;
  /** Resolves with the port once the server listens; rejects (with `code` and `output`) if it exits first. */
  ready: Promise<number>;
  output(): string;
  url(port: number): string;
  /** SIGTERM and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the built server (npm test builds first) as a separate process, as an operator would.
 * `stdoutFile`: its standard output goes to that file (as a process manager writes logs), not to
 * a pipe; `nodeArgs` come before the script (e.g. --require of a test preload).
 */
export function startServerProcess(env: Record<string, string>, opts: { timeoutMs?: number; stdoutFile?: string; nodeArgs?: string[] } = {}): ServerProcess {
  const fd = opts.stdoutFile ? openSync(opts.stdoutFile, 'a') : undefined;
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), path.join(PROJECT_ROOT, 'dist/src/main.js')], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', fd ?? 'pipe', 'pipe'],
  });
  if (fd !== undefined) closeSync(fd); // the child has its own copy
  let piped = '';
  const output = () => (opts.stdoutFile ? readFileSync(opts.stdoutFile, 'utf8') : '') + piped;
  child.stdout?.on('data', (d) => (piped += d));
  child.stderr!.on('data', (d) => (piped += d));
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output()}`)), opts.timeoutMs ?? 60000);
    const look = () => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(Number(m[1]));
      }
    };
    const poll = setInterval(look, opts.stdoutFile ? 50 : 1000);
    child.stdout?.on('data', look);
    child.on('exit', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      reject(Object.assign(new Error(`exited ${code}:\n${output()}`), { code, output: output() }));
    });
  });
  ready.catch(() => undefined);
  return {
    child,
    ready,
    output,
    url: (port) => `http://127.0.0.1:${port}`,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.on('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

/** The environment of a server process on the run's PostgreSQL test database. */
export function postgresServerEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: process.env.LB_TEST_DATABASE_URL!,
    SESSION_SECRET: TEST_SESSION_SECRET,
    PUBLIC_URL: 'http://localhost:3000',
    LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '100000',
    SIGNUP_MAX_ATTEMPTS_PER_ADDRESS: '100000',
    ...extra,
  };
}

export const onPostgres = process.env.LB_TEST_DATABASE_KIND === 'postgresql';

/** A tiny cookie jar for driving several servers as one browser. */
export class CookieJar {
  private cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
  }
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(url, { redirect: 'manual', ...init, headers: { ...(init.headers as Record<string, string>), cookie: this.header() } });
    this.store(res);
    return res;
  }
}

export const form = (data: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(data).toString(),
});

/** Runs the built CLI as its own process, as an operator would; `stdin` is written and closed. */
export function runCliProcess(
  env: Record<string, string>,
  args: string[],
  opts: { stdin?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist/src/cli.js'), ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let out = '';
    child.stdout.on('data', (d) => ((stdout += d), (out += d)));
    child.stderr.on('data', (d) => ((stderr += d), (out += d)));
    child.stdin.on('error', () => undefined); // the CLI may exit before reading everything
    child.stdin.end(opts.stdin ?? '');
    child.on('exit', (code) => resolve({ code, stdout, stderr, out }));
  });
}
