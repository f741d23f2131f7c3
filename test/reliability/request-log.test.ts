import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/lib/paths';
import { postgresServerEnv, startServerProcess } from '../support/server-process';

/**
 * The server's log as operators collect it: LOG_LEVEL at its default (info), standard output to a
 * file or to a pipe read by another process. Every request gets its line, none is lost under load
 * or to a slow reader, and the last lines reach the output on SIGTERM and on a crash.
 */
interface Line {
  level: number;
  time: number;
  pid: number;
  msg: string;
  req?: { id: string; method: string; path: string };
  res?: { statusCode: number };
  responseTime?: number;
  [k: string]: unknown;
}

const parse = (text: string): Line[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);

const defaults = () => {
  const env = postgresServerEnv();
  delete (env as Record<string, string | undefined>).LOG_LEVEL;
  return { ...env, LOG_LEVEL: 'info' };
};

/** `count` requests, `concurrency` at a time, of a few kinds; returns each answer's X-Request-Id, path and status. */
async function load(base: string, count: number, concurrency = 32) {
  const kinds = [
    { method: 'GET', path: '/api/me', status: 401 },
    { method: 'GET', path: '/api/recipes?code=secret-in-query&access_token=lb_at_x', status: 400 },
    { method: 'POST', path: '/oauth/token', status: 400 },
    { method: 'GET', path: '/no-such-page', status: 404 },
  ];
  const answers: Array<{ id: string; method: string; path: string; status: number }> = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const k = kinds[next++ % kinds.length];
      const res = await fetch(`${base}${k.path}`, { method: k.method, headers: { accept: 'application/json', ...(k.method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) }, body: k.method === 'POST' ? 'grant_type=nope' : undefined });
      await res.arrayBuffer();
      answers.push({ id: res.headers.get('x-request-id')!, method: k.method, path: k.path.split('?')[0], status: res.status });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answers;
}

function expectEveryAnswerLogged(lines: Line[], answers: Awaited<ReturnType<typeof load>>) {
  const byId = new Map(lines.filter((l) => l.req).map((l) => [l.req!.id, l]));
  const missing = answers.filter((a) => !byId.has(a.id));
  expect(missing).toEqual([]);
  for (const a of answers) {
    const line = byId.get(a.id)!;
    expect(line).toMatchObject({ level: 30, msg: 'request completed', req: { id: a.id, method: a.method, path: a.path }, res: { statusCode: a.status } });
    expect(typeof line.responseTime).toBe('number');
    expect(typeof line.time).toBe('number');
  }
}

describe('request logging at the default level', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lb-log-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('when standard output is a file, then every request under load has its line (id, method, path without query, status, duration) and SIGTERM writes the last lines', async () => {
    const file = path.join(dir, 'server.log');
    const server = startServerProcess(defaults(), { stdoutFile: file });
    const answers = await load(server.url(await server.ready), 2000);
    expect(await server.stop('SIGTERM')).toBe(0);
    const text = readFileSync(file, 'utf8');
    const lines = parse(text);
    expectEveryAnswerLogged(lines, answers);
    expect(text).not.toContain('secret-in-query');
    expect(text).not.toContain('lb_at_x');
    // The shutdown's own lines, logged in the last moment, made it too: "stopped" is the last line.
    expect(lines[lines.length - 1].msg).toBe('stopped');
  }, 90000);

  it('when standard output is a pipe whose reader stalls, then the server keeps answering and no line is lost', async () => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist/src/main.js')], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', ...defaults() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const port = await new Promise<number>((resolve, reject) => {
      const look = () => {
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      };
      child.stdout!.on('data', look);
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    // The reader stops reading: the pipe's buffer (64 kB) fills after a few hundred lines.
    child.stdout!.pause();
    const started = Date.now();
    const answers = await load(`http://127.0.0.1:${port}`, 3000);
    const stalledFor = Date.now() - started;
    expect(answers).toHaveLength(3000); // the server answered everything while nobody read its log
    child.stdout!.resume();
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
    const lines = parse(out);
    expectEveryAnswerLogged(lines, answers);
    expect(lines[lines.length - 1].msg).toBe('stopped');
    expect(stalledFor).toBeGreaterThan(0);
  }, 90000);

  it('when the process crashes, then the line logged just before and the crash itself reach the file, and it exits 1', async () => {
    const file = path.join(dir, 'crash.log');
    const server = startServerProcess(defaults(), { stdoutFile: file, nodeArgs: ['--require', path.join(PROJECT_ROOT, 'test/support/preloads/crash-after-listen.js')] });
    await server.ready;
    const code = await new Promise<number | null>((resolve) => {
      if (server.child.exitCode !== null) return resolve(server.child.exitCode);
      server.child.once('exit', (c) => resolve(c));
    });
    expect(code).toBe(1);
    const lines = parse(readFileSync(file, 'utf8'));
    const last = lines.findIndex((l) => l.msg === 'the last line before the crash');
    expect(last).toBeGreaterThanOrEqual(0);
    const fatal = lines[lines.length - 1];
    expect(fatal).toMatchObject({ level: 60, msg: 'uncaught exception: exiting' });
    expect(JSON.stringify(fatal.err)).toContain('a crash for the test');
  }, 90000);
});
