import { ChildProcess, fork, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

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

function keepTail(proc: ChildProcess): () => string {
  const lines: string[] = [];
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

function track(name: string, proc: ChildProcess, port: number): Child {
  const tail = keepTail(proc);
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

/** Starts `node script` with an environment and waits until `ready()` resolves. */
export async function startNode(opts: {
  name: string;
  script: string;
  args?: string[];
  nodeArgs?: string[];
  env: NodeJS.ProcessEnv;
  port: number;
  ipc?: boolean;
  ready: (child: Child) => Promise<void>;
  timeoutMs?: number;
}): Promise<Child> {
  const stdio: Array<'ignore' | 'pipe' | 'ipc'> = ['ignore', 'pipe', 'pipe'];
  const proc = opts.ipc
    ? fork(opts.script, opts.args ?? [], { env: opts.env, execArgv: opts.nodeArgs ?? [], stdio: [...stdio, 'ipc'] })
    : spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script, ...(opts.args ?? [])], { env: opts.env, stdio });
  const child = track(opts.name, proc, opts.port);
  const timeoutMs = opts.timeoutMs ?? 60000;
  let timer: NodeJS.Timeout | undefined;
  const died = new Promise<never>((_, reject) => {
    proc.once('exit', (code, signal) => reject(new Error(`${opts.name} exited during start-up (${signal ?? `code ${code}`}):\n${child.tail()}`)));
    proc.once('error', (err) => reject(new Error(`${opts.name} could not be started: ${err.message}`)));
  });
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${opts.name} was not ready after ${timeoutMs / 1000} s:\n${child.tail()}`)), timeoutMs);
  });
  try {
    await Promise.race([opts.ready(child), died, timeout]);
  } catch (err) {
    await child.stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  died.catch(() => undefined);
  return child;
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
