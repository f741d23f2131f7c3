import { ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import type { CpuRound } from './report';

/**
 * Child processes of the benchmark (our server, the floor, the peer): started with a known port,
 * waited for, measured (resident size of the whole process tree) and always stopped.
 */

export interface Child {
  name: string;
  proc: ChildProcess;
  port: number;
  /** The last lines it printed, for the error message when it dies. */
  tail(): string;
  stop(): Promise<void>;
}

const live = new Set<Child>();
const crashed: string[] = [];

/** A free TCP port on 127.0.0.1 (the child binds it right after; a race is unlikely and loud). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function keepTail(proc: ChildProcess, stdoutFile?: string): () => string {
  const lines: string[] = [];
  if (stdoutFile) {
    proc.stderr?.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.trim())));
    return () => {
      let text = '';
      try {
        text = readFileSync(stdoutFile, 'utf8');
      } catch {
        // not written yet
      }
      return [...text.split('\n').filter((l) => l.trim()).slice(-30), ...lines.slice(-30)].map((l) => (l.length > 400 ? `${l.slice(0, 400)}...` : l)).join('\n');
    };
  }
  const add = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      lines.push(line.length > 400 ? `${line.slice(0, 400)}...` : line);
      if (lines.length > 30) lines.shift();
    }
  };
  proc.stdout?.on('data', add);
  proc.stderr?.on('data', add);
  return () => lines.join('\n');
}

function track(name: string, proc: ChildProcess, port: number, stdoutFile?: string): Child {
  const tail = keepTail(proc, stdoutFile);
  let stopping = false;
  const child: Child = {
    name,
    proc,
    port,
    tail,
    stop: () => {
      stopping = true;
      return stopProcess(proc).finally(() => live.delete(child));
    },
  };
  live.add(child);
  proc.once('exit', (code, signal) => {
    live.delete(child);
    if (!stopping) crashed.push(`${name} exited (${signal ?? `code ${code}`}) in the middle of the run:\n${tail()}`);
  });
  return child;
}

/** Throws when a child died on its own: the figures after that would measure nothing. */
export function assertChildrenAlive(): void {
  if (crashed.length) throw new Error(crashed.join('\n'));
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
function stopProcess(proc: ChildProcess, graceMs = 5000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
    }, graceMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** Stops every child still running (on success, failure or Ctrl-C). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

/** Kills every child at once, synchronously (last resort when the process is exiting). */
export function killAllNow(): void {
  for (const c of live) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  }
}

/**
 * Starts `node script` with an environment and waits until it is ready: until it answers 200 on
 * `readyUrl`, or (forked with IPC) until it sends {type: 'ready', ...}, which is returned.
 */
export async function startNode<Ready = unknown>(opts: {
  name: string;
  script: string;
  env: NodeJS.ProcessEnv;
  port: number;
  nodeArgs?: string[];
  readyUrl?: string;
  /** Standard output: a pipe to us (default), or a file descriptor / pipe to another process (spawned children only). */
  stdout?: number | Writable;
  /** The file its standard output goes to, for the tail when it dies. */
  stdoutFile?: string;
}): Promise<{ child: Child; ready: Ready }> {
  const stdio: Array<'ignore' | 'pipe' | 'ipc'> = ['ignore', 'pipe', 'pipe'];
  const nodeArgs = opts.nodeArgs ?? [];
  const proc = opts.readyUrl
    ? spawn(process.execPath, [...nodeArgs, opts.script], { env: opts.env, stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'] })
    : fork(opts.script, [], { env: opts.env, execArgv: nodeArgs, stdio: [...stdio, 'ipc'] });
  const child = track(opts.name, proc, opts.port, opts.stdoutFile);
  const timeoutMs = 60000;
  let timer: NodeJS.Timeout | undefined;
  const died = new Promise<never>((_, reject) => {
    proc.once('exit', (code, signal) => reject(new Error(`${opts.name} exited during start-up (${signal ?? `code ${code}`}):\n${child.tail()}`)));
    proc.once('error', (err) => reject(new Error(`${opts.name} could not be started: ${err.message}`)));
  });
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${opts.name} was not ready after ${timeoutMs / 1000} s:\n${child.tail()}`)), timeoutMs);
  });
  const ready = opts.readyUrl
    ? waitForHttp(opts.readyUrl, () => proc.exitCode !== null)
    : waitForMessage(proc, (m): m is Ready => (m as { type?: string })?.type === 'ready');
  try {
    const message = await Promise.race([ready, died, timeout]);
    died.catch(() => undefined);
    return { child, ready: message as Ready };
  } catch (err) {
    await child.stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

const ROOT = resolve(__dirname, '..', '..');

/**
 * Where our server's standard output goes. `file`: a file, as a process manager or `npm start >
 * log` writes it; `pipe`: a pipe read by another process (bench/log-sink.ts), as a container
 * runtime or systemd collects it; `quiet-logs`: LOG_LEVEL=warn, for comparison only.
 */
export type LogMode = 'file' | 'pipe' | 'quiet-logs';

export interface ServerChild extends Child {
  /** Where its log lines end up (file and pipe modes), complete once stop() resolved. */
  logFile?: string;
}

/**
 * Our server (`node dist/src/main.js`), one process or WEB_CONCURRENCY of them, on a free port,
 * at its defaults: LOG_LEVEL unset (info, one line per request) unless logs is `quiet-logs`.
 */
export async function startServer(opts: { name: string; databaseUrl: string; webConcurrency: number; serverEnv: Record<string, string>; logs: LogMode; logDir: string; profileDir?: string }): Promise<ServerChild> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'development', // production insists on an https PUBLIC_URL
    DATABASE_URL: opts.databaseUrl,
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    ...(opts.logs === 'quiet-logs' ? { LOG_LEVEL: 'warn' } : {}),
    SESSION_SECRET: randomBytes(36).toString('base64url'),
    DATA_DIR: join(os.tmpdir(), `linkbridge-bench-${process.pid}`),
    // Throttling counts every attempt from 127.0.0.1: lift it so it does not refuse the load.
    LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '1000',
    LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '100000',
    WEB_CONCURRENCY: String(opts.webConcurrency),
    ...opts.serverEnv,
  };
  const nodeArgs = [...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []), '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${opts.logDir}`];
  const script = join(ROOT, 'dist', 'src', 'main.js');
  mkdirSync(opts.logDir, { recursive: true });
  const logFile = opts.logs === 'quiet-logs' ? undefined : join(opts.logDir, `${opts.name.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`);
  let stdout: number | Writable | undefined;
  let sink: ChildProcess | undefined;
  if (opts.logs === 'file') stdout = openSync(logFile!, 'a');
  if (opts.logs === 'pipe') {
    sink = spawn(process.execPath, [join(__dirname, 'log-sink.js'), logFile!], { stdio: ['pipe', 'ignore', 'inherit'] });
    stdout = sink.stdin!;
  }
  const readyUrl = `http://127.0.0.1:${port}/readyz`;
  const started = startNode({ name: opts.name, script, env, port, nodeArgs, readyUrl, stdout, stdoutFile: logFile });
  // The server has its own copy now: ours would keep the file open or the sink from seeing the end.
  if (typeof stdout === 'number') closeSync(stdout);
  else stdout?.destroy();
  const child = (await started).child;
  const sinkDone = sink ? new Promise<void>((resolve) => (sink!.exitCode !== null ? resolve() : sink!.once('exit', () => resolve()))) : Promise.resolve();
  // The sink reads until the server's end of the pipe closes, then exits: stop() waits for both.
  return { ...child, logFile, stop: () => child.stop().then(() => sinkDone) };
}

/** One of the benchmark's own children (bench/floor.ts, bench/peer.ts), forked on a free port given as `<PREFIX>_PORT`. */
export async function startBenchChild<Ready>(name: string, file: string, env: (port: number) => NodeJS.ProcessEnv): Promise<{ child: Child; ready: Ready }> {
  const port = await freePort();
  return startNode<Ready>({ name, script: join(__dirname, file), env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env(port) }, port });
}

/** Polls an HTTP URL until it answers 200. */
export async function waitForHttp(url: string, isDead: () => boolean): Promise<void> {
  for (;;) {
    if (isDead()) return; // the exit handler reports it
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
}

/** The first IPC message of a forked child that satisfies `match`. */
export function waitForMessage<T>(proc: ChildProcess, match: (m: unknown) => m is T): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (match(m)) {
        proc.off('message', onMessage);
        resolve(m);
      }
    };
    proc.on('message', onMessage);
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The fields of /proc/<pid>/stat after "pid (comm) " (comm may contain spaces): state(0) ppid(1) ... utime(11) stime(12). */
function statFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The pid and every descendant of it (a server with WEB_CONCURRENCY > 1 forks workers). */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [rootPid];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(statFields(entry)[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(rootPid);
  return out;
}

/** Resident size of a process tree in bytes: the sum of VmRSS over its processes (0 for one that is gone). */
export function treeRss(pids: number[]): number {
  const rssOf = (pid: number) => {
    try {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  };
  return pids.reduce((sum, pid) => sum + rssOf(pid), 0);
}

/** A process's resident size by kind, in MB (RssAnon and RssFile of /proc/PID/status), if readable. */
export function residentKinds(pid: number): { anonymousMb: number; fileMb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN);
    const [anon, file] = [kb('RssAnon'), kb('RssFile')];
    return Number.isFinite(anon) && Number.isFinite(file) ? { anonymousMb: anon / 1024, fileMb: file / 1024 } : undefined;
  } catch {
    return undefined;
  }
}

/** Linux reports process CPU time in clock ticks of USER_HZ, which is 100 on every Linux ABI. */
const USER_HZ = 100;

/** CPU time (user + system) a process has used, in seconds (0 when it is gone). */
export function cpuSecondsOf(pid: number): number {
  try {
    const fields = statFields(pid);
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return 0;
  }
}

/** The whole machine's CPU time so far, in seconds summed over cores: busy and total. */
export function machineCpuSeconds(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / USER_HZ, total: total / USER_HZ };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** Resident size of the watched process trees, sampled every 250 ms: peaks per round and overall. */
export class RssSampler {
  private readonly groups = new Map<string, { root: number; pids: number[]; treeAt: number; roundPeak: number; peak: number }>();
  private readonly timer = setInterval(() => {
    for (const name of this.groups.keys()) this.now(name);
  }, 250).unref();

  watch(name: string, pid: number | undefined): void {
    if (pid) this.groups.set(name, { root: pid, pids: processTree(pid), treeAt: Date.now(), roundPeak: 0, peak: 0 });
  }

  unwatch(name: string): void {
    this.groups.delete(name);
  }

  pids(name: string): number[] {
    const g = this.groups.get(name);
    return g ? processTree(g.root) : [];
  }

  /** The tree's resident size now, in bytes (its pids are looked up again every 2 s). */
  now(name: string): number {
    const g = this.groups.get(name);
    if (!g) return 0;
    if (Date.now() - g.treeAt > 2000) {
      g.pids = processTree(g.root);
      g.treeAt = Date.now();
    }
    const rss = treeRss(g.pids);
    g.roundPeak = Math.max(g.roundPeak, rss);
    g.peak = Math.max(g.peak, rss);
    return rss;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  resetRound(): void {
    for (const g of this.groups.values()) g.roundPeak = 0;
  }

  roundPeak(name: string): number {
    this.now(name);
    return this.groups.get(name)?.roundPeak ?? 0;
  }

  peak(name: string): number {
    return this.groups.get(name)?.peak ?? 0;
  }
}

/**
 * CPU used during a round by the process under test, by the PostgreSQL backends of the benchmark
 * database and by the load generator, against the whole machine: tells whether a target is bound
 * by our code, by the database, or by other work on the machine.
 */
export class CpuMeter {
  constructor(private readonly backendPids: () => Promise<number[]>) {}

  private static times(pids: number[]): Map<number, number> {
    return new Map(pids.map((pid) => [pid, cpuSecondsOf(pid)]));
  }

  async start(processPids: number[]) {
    return {
      at: process.hrtime.bigint(),
      process: CpuMeter.times(processPids),
      postgres: CpuMeter.times(await this.backendPids()),
      self: process.cpuUsage(),
      machine: machineCpuSeconds(),
    };
  }

  async stop(start: Awaited<ReturnType<CpuMeter['start']>>, processPids: number[], requests: number): Promise<CpuRound> {
    const wall = Number(process.hrtime.bigint() - start.at) / 1e9;
    const used = (before: Map<number, number>, pids: number[]) => pids.reduce((sum, pid) => sum + Math.max(0, cpuSecondsOf(pid) - (before.get(pid) ?? 0)), 0);
    const processSec = used(start.process, processPids);
    const postgresSec = used(start.postgres, await this.backendPids());
    const self = process.cpuUsage(start.self);
    const loadgenSec = (self.user + self.system) / 1e6;
    const busySec = machineCpuSeconds().busy - start.machine.busy;
    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    return {
      processCores: r3(processSec / wall),
      postgresCores: r3(postgresSec / wall),
      loadgenCores: r3(loadgenSec / wall),
      machineBusyCores: r3(busySec / wall),
      otherCores: r3(Math.max(0, busySec - processSec - postgresSec - loadgenSec) / wall),
      processMsPerRequest: r3((processSec * 1000) / Math.max(1, requests)),
      postgresMsPerRequest: r3((postgresSec * 1000) / Math.max(1, requests)),
    };
  }
}
