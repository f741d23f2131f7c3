import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { createKnex } from '../src/db/knex';
import { migrateLatest } from '../src/db/migrate';
import { BenchSetupError, benchDatabaseName, connectAdmin, createDatabase, databaseUrl, DEFAULT_ADMIN_URL, dropDatabase, redactUrl } from './db';
import { HttpCall, runClosed, startPaced } from './load';
import pg from 'pg';
import { assertChildrenAlive, Child, cpuSecondsOf, freePort, killAllNow, machineCpuSeconds, processTree, sleep, startNode, stopAll, treeRss, waitForHttp, waitForMessage } from './procs';
import {
  addRatios,
  CpuRound,
  evaluate,
  formatChecks,
  formatCpuTable,
  formatMarkdown,
  formatTable,
  median,
  MemoryReport,
  summarizeCpuProfile,
  TargetDef,
  TargetRecorder,
  TargetSummary,
  WebConcurrencyReport,
  writeResults,
} from './report';
import { benchEmail, BenchClient, createCodes, seedDatabase, SeedResult } from './seed';

/**
 * `npm run bench`: one run that creates a throwaway database on the machine's PostgreSQL, seeds
 * it, starts our server, the floor and the peer as child processes, and measures every target in
 * short rounds, alternating targets so machine noise hits all of them alike. Prints a table and
 * the pass/fail of each goal, and writes the same as JSON (bench-results/). See README, Benchmark.
 */

const ROOT = resolve(__dirname, '..', '..');
const MB = 1024 * 1024;

interface Options {
  adminUrl: string;
  rounds: number;
  seconds: number;
  warmup: number;
  connections: number;
  codeConnections: number;
  loginRate: number;
  users: number;
  recipes: number;
  webConcurrency: number;
  targets: Set<string> | undefined;
  cpuProf: boolean;
  keepDb: boolean;
  strict: boolean;
  serverEnv: Record<string, string>;
}

function intEnv(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new BenchSetupError(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  return n;
}

const ALL_TARGETS = ['floor', 'api-me', 'api-bookmarks', 'refresh-off', 'refresh-rotate', 'code-exchange', 'introspect', 'peer-refresh', 'peer-introspect', 'logins'];

function readOptions(env: NodeJS.ProcessEnv): Options {
  const targets = env.BENCH_TARGETS?.trim()
    ? new Set(env.BENCH_TARGETS.split(',').map((s) => s.trim()).filter(Boolean))
    : undefined;
  if (targets) {
    const unknown = [...targets].filter((t) => !ALL_TARGETS.includes(t));
    if (unknown.length) throw new BenchSetupError(`BENCH_TARGETS: unknown ${unknown.join(', ')} (known: ${ALL_TARGETS.join(', ')})`);
    // What each one is compared with runs too: the floor for every ratio, the peer's counterpart,
    // the idle API for the API beside logins.
    targets.add('floor');
    const needs: Record<string, string> = { logins: 'api-me', 'refresh-off': 'peer-refresh', 'refresh-rotate': 'peer-refresh', introspect: 'peer-introspect' };
    for (const t of [...targets]) if (needs[t]) targets.add(needs[t]);
  }
  // BENCH_SERVER_X=v is passed to our server as X=v (e.g. BENCH_SERVER_DB_POOL_MAX=20).
  const serverEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('BENCH_SERVER_') && v !== undefined) serverEnv[k.slice('BENCH_SERVER_'.length)] = v;
  return {
    adminUrl: env.BENCH_DATABASE_URL?.trim() || DEFAULT_ADMIN_URL,
    rounds: intEnv(env, 'BENCH_ROUNDS', 3, 1, 20),
    seconds: intEnv(env, 'BENCH_SECONDS', 8, 1, 600),
    warmup: intEnv(env, 'BENCH_WARMUP_SECONDS', 2, 0, 60),
    connections: intEnv(env, 'BENCH_CONNECTIONS', 32, 1, 1000),
    codeConnections: intEnv(env, 'BENCH_CODE_CONNECTIONS', 50, 1, 1000),
    loginRate: intEnv(env, 'BENCH_LOGIN_RATE', 20, 1, 1000),
    users: intEnv(env, 'BENCH_USERS', 100000, 1000, 10000000),
    recipes: intEnv(env, 'BENCH_RECIPES', 10000, 100, 10000000),
    webConcurrency: intEnv(env, 'BENCH_WEB_CONCURRENCY', 2, 1, 64),
    targets,
    cpuProf: env.BENCH_CPU_PROF === '1',
    keepDb: env.BENCH_KEEP_DB === '1',
    strict: env.BENCH_STRICT === '1',
    serverEnv,
  };
}

let interrupted = false;
/** Progress and results on stdout; silent once interrupted (the rounds still winding down measure nothing). */
const log = (m: string, always = false) => {
  if (!interrupted || always) process.stdout.write(`${m}\n`);
};
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const FORM = 'application/x-www-form-urlencoded';

/** Resident size of the watched process trees, sampled every 250 ms: peaks per round and overall. */
class RssSampler {
  private readonly groups = new Map<string, { root: number; pids: number[]; treeAt: number; roundPeak: number; peak: number }>();
  private timer: NodeJS.Timeout | undefined;

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

  start(): void {
    this.timer = setInterval(() => {
      for (const name of this.groups.keys()) this.now(name);
    }, 250);
    this.timer.unref();
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
class CpuMeter {
  constructor(
    private readonly admin: pg.Client,
    private readonly dbName: string,
  ) {}

  private async backendPids(): Promise<number[]> {
    const { rows } = await this.admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [this.dbName]);
    return rows.map((r) => r.pid);
  }

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
    const machine = machineCpuSeconds();
    const busySec = machine.busy - start.machine.busy;
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

interface Target {
  def: TargetDef;
  /** The process tree whose memory is reported for it. */
  group: string;
  base: URL;
  connections: number;
  expect: number;
  next: () => HttpCall;
  onBody?: (body: string) => void;
  prepare?: () => Promise<void>;
  /** Runs the fixed-rate logins alongside (the "API while logins run" target). */
  withLogins?: boolean;
}

async function startServer(name: string, url: string, opts: Options, webConcurrency: number, profileDir?: string): Promise<Child> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'development', // production insists on an https PUBLIC_URL
    DATABASE_URL: url,
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    LOG_LEVEL: 'warn',
    SESSION_SECRET: randomBytes(36).toString('base64url'),
    DATA_DIR: join(os.tmpdir(), `linkbridge-bench-${process.pid}`),
    // Throttling counts every attempt from 127.0.0.1: lift it so it does not refuse the load.
    LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '1000',
    LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '100000',
    WEB_CONCURRENCY: String(webConcurrency),
    ...opts.serverEnv,
  };
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  return startNode({
    name,
    script: join(ROOT, 'dist', 'src', 'main.js'),
    env,
    port,
    nodeArgs,
    ready: (c) => waitForHttp(`http://127.0.0.1:${port}/readyz`, () => c.proc.exitCode !== null),
  });
}

interface PeerReady {
  type: 'ready';
  port: number;
  clientId: string;
  clientSecret: string;
  refreshTokens: string[];
  accessTokens: string[];
}

async function startPeer(url: string): Promise<{ child: Child; ready: PeerReady }> {
  const port = await freePort();
  let ready: PeerReady | undefined;
  const child = await startNode({
    name: 'peer (oidc-provider)',
    script: join(__dirname, 'peer.js'),
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'development', PEER_DATABASE_URL: url, PEER_PORT: String(port), PEER_REFRESH_TOKENS: '2000', PEER_ACCESS_TOKENS: '5000' },
    port,
    ipc: true,
    ready: async (c) => {
      ready = await waitForMessage(c.proc, (m): m is PeerReady => (m as PeerReady)?.type === 'ready');
    },
  });
  return { child, ready: ready! };
}

async function startFloor(url: string): Promise<Child> {
  const port = await freePort();
  return startNode({
    name: 'floor',
    script: join(__dirname, 'floor.js'),
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', FLOOR_DATABASE_URL: url, FLOOR_PORT: String(port) },
    port,
    ipc: true,
    ready: async (c) => {
      await waitForMessage(c.proc, (m): m is { type: 'ready' } => (m as { type?: string })?.type === 'ready');
    },
  });
}

/** Login forms (CSRF cookie + token; no session until sign-in), fetched ahead so the measured load is the POST alone. */
async function fetchLoginForms(base: string, count: number): Promise<Array<{ cookie: string; csrf: string }>> {
  const out: Array<{ cookie: string; csrf: string }> = [];
  const one = async () => {
    const res = await fetch(`${base}/login`);
    const cookie = (res.headers.getSetCookie()[0] ?? '').split(';')[0];
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await res.text())?.[1];
    if (res.status !== 200 || !cookie || !csrf) throw new Error(`GET /login answered ${res.status} without a CSRF cookie and token`);
    out.push({ cookie, csrf });
  };
  for (let i = 0; i < count; i += 8) await Promise.all(Array.from({ length: Math.min(8, count - i) }, one));
  return out;
}

function machine(pgVersion: string) {
  const cpus = os.cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    /* not a git checkout */
  }
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: pgVersion,
    commit,
    /** 1-minute load average when the run started: other work on the machine makes figures noisy. */
    loadAverageAtStart: Math.round(os.loadavg()[0] * 100) / 100,
  };
}

async function main(opts: Options, state: { dbName?: string; admin?: pg.Client }): Promise<number> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const selected = (name: string) => !opts.targets || opts.targets.has(name);

  log(`Linkbridge benchmark: PostgreSQL at ${redactUrl(opts.adminUrl)} (set BENCH_DATABASE_URL to change)`);
  const admin = await connectAdmin(opts.adminUrl);
  const pgVersion = (await admin.query<{ v: string }>("SELECT split_part(version(), ' on ', 1) AS v")).rows[0].v;
  const dbName = benchDatabaseName(startedAt);
  await createDatabase(admin, dbName);
  state.dbName = dbName;
  state.admin = admin;
  const cpu = new CpuMeter(admin, dbName);
  const url = databaseUrl(opts.adminUrl, dbName);
  const info = machine(pgVersion);
  log(`Machine: ${info.cpus} x ${info.cpuModel}, ${info.memoryGb} GB, ${info.os}, Node ${info.node}, ${info.postgres}`);
  if (info.loadAverageAtStart > info.cpus / 2) {
    log(`Note: the machine is busy (load average ${info.loadAverageAtStart} on ${info.cpus} cores): absolute figures will be noisy; the ratios of one run hold better.`);
  }
  log(`Database ${dbName}: migrating and seeding`);

  const knex = createKnex({ url, poolMax: 2 });
  let seed: SeedResult;
  try {
    await migrateLatest(knex);
    seed = await seedDatabase(
      knex,
      url,
      { users: opts.users, rotateGrants: Math.max(1000, Math.floor(opts.users / 10)), recipes: opts.recipes, apiTokens: Math.min(20000, opts.users), refreshTokens: 5000, peerFiller: opts.users },
      log,
    );
  } finally {
    await knex.destroy();
  }
  log(`Seeded in ${seed.seconds.toFixed(1)} s: ${Object.entries(seed.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);

  const profileDir = opts.cpuProf ? join(ROOT, 'bench-results', 'profiles', stamp) : undefined;
  log('Starting our server, the floor and the peer');
  const server = await startServer('linkbridge', url, opts, 1, profileDir);
  const floor = await startFloor(url);
  const peer = await startPeer(url);
  const sampler = new RssSampler();
  sampler.watch('linkbridge', server.proc.pid);
  sampler.watch('floor', floor.proc.pid);
  sampler.watch('peer', peer.child.proc.pid);
  sampler.start();

  const ours = new URL(`http://127.0.0.1:${server.port}`);
  const floorUrl = new URL(`http://127.0.0.1:${floor.port}`);
  const peerUrl = new URL(`http://127.0.0.1:${peer.ready.port}`);
  const cycle = <T>(items: T[]) => {
    let i = 0;
    return () => items[i++ % items.length];
  };

  // Tokens and codes each load cycles through (many distinct ones: no cache sees a repeat soon).
  const apiToken = cycle(seed.apiTokens);
  const floorHash = cycle(seed.apiTokenHashes);
  const refreshOff = cycle(seed.refreshOff);
  const rotatePool = [...seed.refreshRotate]; // each answer gives the next token, as Alexa keeps it
  const peerRefresh = cycle(peer.ready.refreshTokens);
  const peerAccess = cycle(peer.ready.accessTokens);
  const codePool: string[] = [];
  let codesMade = 0;
  let codeRate = 0;
  const offAuth = basic(seed.clientOff.clientId, seed.clientOff.clientSecret);
  const rotateAuth = basic(seed.clientRotate.clientId, seed.clientRotate.clientSecret);
  const peerAuth = basic(peer.ready.clientId, peer.ready.clientSecret);
  const post = (path: string, auth: string, body: string): HttpCall => ({ method: 'POST', path, headers: { authorization: auth, 'content-type': FORM }, body });
  const bearerGet = (path: string): HttpCall => ({ method: 'GET', path, headers: { authorization: `Bearer ${apiToken()}` } });
  const refillCodes = async (client: BenchClient) => {
    const need = Math.ceil(Math.max(codeRate, 1000) * (opts.seconds + opts.warmup + 2) * 1.5);
    if (codePool.length >= need) return;
    const made = await createCodes(url, client, seed.offGrantIds, need - codePool.length, codesMade);
    codesMade += made.length;
    codePool.push(...made);
  };

  const conns = `${opts.connections} conns`;
  const allTargets: Target[] = [
    {
      def: { name: 'floor', label: 'bare Express + pg: one indexed SELECT by token hash', side: 'floor', load: conns },
      group: 'floor', base: floorUrl, connections: opts.connections, expect: 200,
      next: () => ({ method: 'GET', path: `/floor/${floorHash()}` }),
    },
    {
      def: { name: 'api-me', label: 'GET /api/me with a bearer token', side: 'ours', load: conns },
      group: 'linkbridge', base: ours, connections: opts.connections, expect: 200,
      next: () => bearerGet('/api/me'),
    },
    {
      def: { name: 'api-bookmarks', label: 'GET /api/bookmarks with a bearer token', side: 'ours', load: conns },
      group: 'linkbridge', base: ours, connections: opts.connections, expect: 200,
      next: () => bearerGet('/api/bookmarks'),
    },
    {
      def: { name: 'refresh-off', label: 'refresh_token grant, HTTP Basic, policy off (Alexa default)', side: 'ours', load: conns, peer: 'peer-refresh' },
      group: 'linkbridge', base: ours, connections: opts.connections, expect: 200,
      next: () => post('/oauth/token', offAuth, `grant_type=refresh_token&refresh_token=${refreshOff()}`),
    },
    {
      def: { name: 'refresh-rotate', label: 'refresh_token grant, HTTP Basic, policy rotate', side: 'ours', load: conns, peer: 'peer-refresh' },
      group: 'linkbridge', base: ours, connections: opts.connections, expect: 200,
      next: () => post('/oauth/token', rotateAuth, `grant_type=refresh_token&refresh_token=${rotatePool.shift() ?? seed.refreshRotate[0]}`),
      onBody: (body) => {
        const rt = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
        if (rt) rotatePool.push(rt);
      },
    },
    {
      def: { name: 'code-exchange', label: 'authorization_code grant (single-use codes), HTTP Basic', side: 'ours', load: `${opts.codeConnections} conns` },
      group: 'linkbridge', base: ours, connections: opts.codeConnections, expect: 200,
      prepare: () => refillCodes(seed.clientOff),
      next: () =>
        post('/oauth/token', offAuth, `grant_type=authorization_code&code=${codePool.shift() ?? 'lb_ac_exhausted'}&redirect_uri=${encodeURIComponent(seed.clientOff.redirectUri)}`),
    },
    {
      def: { name: 'introspect', label: 'POST /oauth/introspect of an access token, HTTP Basic', side: 'ours', load: conns, peer: 'peer-introspect' },
      group: 'linkbridge', base: ours, connections: opts.connections, expect: 200,
      next: () => post('/oauth/introspect', offAuth, `token=${apiToken()}&token_type_hint=access_token`),
    },
    {
      def: { name: 'peer-refresh', label: 'oidc-provider: refresh_token grant, HTTP Basic, no rotation', side: 'peer', load: conns },
      group: 'peer', base: peerUrl, connections: opts.connections, expect: 200,
      next: () => post('/token', peerAuth, `grant_type=refresh_token&refresh_token=${peerRefresh()}`),
    },
    {
      def: { name: 'peer-introspect', label: 'oidc-provider: introspection of an access token', side: 'peer', load: conns },
      group: 'peer', base: peerUrl, connections: opts.connections, expect: 200,
      next: () => post('/token/introspection', peerAuth, `token=${peerAccess()}&token_type_hint=access_token`),
    },
    {
      def: { name: 'api-me+logins', label: `GET /api/me while ${opts.loginRate} logins/s run`, side: 'ours', load: conns },
      group: 'linkbridge', base: ours, connections: opts.connections, expect: 200,
      next: () => bearerGet('/api/me'),
      withLogins: true,
    },
  ];
  const targets = allTargets.filter((t) => selected(t.def.name === 'api-me+logins' ? 'logins' : t.def.name));

  // Logins: a fresh form per attempt (a successful login rotates the session, spending its form).
  const loginDef: TargetDef = { name: 'login', label: `POST /login (argon2id) at a fixed ${opts.loginRate}/s`, side: 'ours', load: `${opts.loginRate}/s`, fixedRate: true };
  const loginForms: Array<{ cookie: string; csrf: string }> = [];
  let loginUser = 0;
  const refillLoginForms = async () => {
    const need = opts.loginRate * (opts.seconds + opts.warmup + 2) + 20;
    if (loginForms.length < need) loginForms.push(...(await fetchLoginForms(ours.origin, need - loginForms.length)));
  };
  const nextLogin = (): HttpCall => {
    const form = loginForms.shift();
    const email = benchEmail(1 + (loginUser++ % 500));
    const body = new URLSearchParams({ _csrf: form?.csrf ?? 'none', email, password: seed.password, return_to: '/' }).toString();
    return { method: 'POST', path: '/login', headers: { cookie: form?.cookie ?? '', 'content-type': FORM }, body };
  };

  const recorders = new Map<string, TargetRecorder>();
  const recorder = (def: TargetDef) => {
    let r = recorders.get(def.name);
    if (!r) recorders.set(def.name, (r = new TargetRecorder(def)));
    return r;
  };
  const closed = (t: Target, seconds: number) =>
    runClosed({ url: t.base.origin, connections: t.connections, seconds, expectStatus: t.expect, next: t.next, onBody: t.onBody });

  const runTarget = async (t: Target, label: string) => {
    assertChildrenAlive();
    await t.prepare?.();
    if (t.withLogins) {
      await refillLoginForms();
      const pacer = startPaced({ host: t.base.hostname, port: Number(t.base.port), ratePerSecond: opts.loginRate, expectStatus: 303, next: nextLogin });
      if (opts.warmup) await closed(t, opts.warmup);
      pacer.mark();
      sampler.resetRound();
      const pids = sampler.pids(t.group);
      const c0 = await cpu.start(pids);
      const api = await closed(t, opts.seconds);
      const logins = await pacer.stop();
      const used = await cpu.stop(c0, pids, api.ok + logins.ok);
      const peak = sampler.roundPeak(t.group) / MB;
      const a = recorder(t.def).add(api, peak, used);
      const l = recorder(loginDef).add(logins, peak);
      log(`${label} ${t.def.name.padEnd(16)} ${a.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${a.p50.toFixed(2).padStart(7)}  p99 ${a.p99.toFixed(2).padStart(7)} ms${a.bad ? `  bad ${a.bad}` : ''}`);
      log(`${label} ${'login'.padEnd(16)} ${l.reqPerSec.toFixed(1).padStart(6)} /s     p50 ${l.p50.toFixed(2).padStart(7)}  p99 ${l.p99.toFixed(2).padStart(7)} ms${l.bad ? `  bad ${l.bad} ${JSON.stringify(l.statuses)}` : ''}`);
      return;
    }
    if (opts.warmup) await closed(t, opts.warmup);
    sampler.resetRound();
    const pids = sampler.pids(t.group);
    const c0 = await cpu.start(pids);
    const res = await closed(t, opts.seconds);
    const used = await cpu.stop(c0, pids, res.ok);
    const s = recorder(t.def).add(res, sampler.roundPeak(t.group) / MB, used);
    if (t.def.name === 'code-exchange') codeRate = Math.max(codeRate, s.reqPerSec);
    log(`${label} ${t.def.name.padEnd(16)} ${s.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${s.p50.toFixed(2).padStart(7)}  p99 ${s.p99.toFixed(2).padStart(7)} ms${s.bad ? `  bad ${s.bad} ${JSON.stringify(s.statuses)}` : ''}`);
  };

  const perRound = opts.seconds + opts.warmup;
  log(
    `Measuring ${targets.length} targets x ${opts.rounds} rounds (${opts.warmup} s warm-up + ${opts.seconds} s each, alternating), ` +
      `about ${Math.ceil((targets.length * opts.rounds * (perRound + 0.5) + (opts.webConcurrency > 1 ? 4 * (perRound + 0.5) + 5 : 0)) / 60)} min`,
  );
  // Our server's peak resident size in each half of the rounds (same mix of targets in both).
  const half = Math.max(1, Math.floor(opts.rounds / 2));
  const halfPeaks = [0, 0];
  const roundPeaks: number[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    let peak = 0;
    for (const t of targets) {
      await runTarget(t, `[${round}/${opts.rounds}]`);
      peak = Math.max(peak, sampler.roundPeak('linkbridge') / MB);
    }
    roundPeaks.push(Math.round(peak * 10) / 10);
    const i = round <= half ? 0 : 1;
    halfPeaks[i] = Math.max(halfPeaks[i], peak);
  }

  // Several processes: a second server with WEB_CONCURRENCY, alternated with the first on /api/me.
  let wc: WebConcurrencyReport | undefined;
  const apiMe = targets.find((t) => t.def.name === 'api-me');
  if (opts.webConcurrency > 1 && apiMe) {
    log(`Starting a second server with WEB_CONCURRENCY=${opts.webConcurrency}`);
    const several = await startServer(`linkbridge (WEB_CONCURRENCY=${opts.webConcurrency})`, url, opts, opts.webConcurrency);
    await sleep(1000);
    const processes = processTree(several.proc.pid!).length;
    sampler.watch('linkbridge-wc', several.proc.pid);
    const oneDef: TargetDef = { name: 'api-me@1proc', label: 'GET /api/me, WEB_CONCURRENCY=1 (alternated with the next)', side: 'ours', load: conns };
    const severalDef: TargetDef = { name: `api-me@wc${opts.webConcurrency}`, label: `GET /api/me, WEB_CONCURRENCY=${opts.webConcurrency} (${processes} processes)`, side: 'ours', load: conns };
    const severalUrl = new URL(`http://127.0.0.1:${several.port}`);
    for (let round = 1; round <= 2; round++) {
      await runTarget({ ...apiMe, def: oneDef }, `[wc ${round}/2]`);
      await runTarget({ ...apiMe, def: severalDef, base: severalUrl, group: 'linkbridge-wc' }, `[wc ${round}/2]`);
    }
    const one = recorders.get(oneDef.name)!.summary();
    const many = recorders.get(severalDef.name)!.summary();
    wc = { requested: opts.webConcurrency, processes, oneProcessReqPerSec: one.reqPerSec, severalReqPerSec: many.reqPerSec, ratio: one.reqPerSec ? many.reqPerSec / one.reqPerSec : 0, cores: os.cpus().length };
    sampler.unwatch('linkbridge-wc');
    await several.stop();
  }

  assertChildrenAlive();
  await sleep(1500);
  const endMb = sampler.now('linkbridge') / MB;
  const r1 = (n: number) => Math.round(n * 10) / 10;
  const memory: MemoryReport = {
    peakMb: r1(sampler.peak('linkbridge') / MB),
    firstHalfPeakMb: r1(halfPeaks[0]),
    secondHalfPeakMb: r1(halfPeaks[1]),
    growthPct: opts.rounds >= 2 && halfPeaks[0] > 0 ? r1(((halfPeaks[1] - halfPeaks[0]) / halfPeaks[0]) * 100) : undefined,
    endMb: r1(endMb),
    roundPeaksMb: roundPeaks,
  };
  sampler.stop();
  await stopAll();

  const summaries: TargetSummary[] = [...recorders.values()].map((r) => r.summary());
  addRatios(summaries);
  const byName = new Map(summaries.map((s) => [s.name, s]));
  const checks = evaluate(byName, memory, wc);

  let profile: ReturnType<typeof summarizeCpuProfile> | undefined;
  if (profileDir && existsSync(profileDir)) {
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) profile = summarizeCpuProfile(join(profileDir, file));
  }

  const finishedAt = new Date();
  const result = {
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    minutes: Math.round(((finishedAt.getTime() - startedAt.getTime()) / 60000) * 10) / 10,
    machine: { ...info, loadAverageAtEnd: Math.round(os.loadavg()[0] * 100) / 100 },
    settings: { rounds: opts.rounds, seconds: opts.seconds, warmupSeconds: opts.warmup, connections: opts.connections, codeConnections: opts.codeConnections, loginRate: opts.loginRate, serverEnv: opts.serverEnv },
    seed: { seconds: seed.seconds, counts: seed.counts },
    targets: summaries,
    memory,
    webConcurrency: wc,
    checks,
    profile,
  };
  const machineLine =
    `${info.cpus} x ${info.cpuModel}, ${info.memoryGb} GB, ${info.os}, Node ${info.node}, ${info.postgres}, commit ${info.commit}, ` +
    `load average ${info.loadAverageAtStart} at the start (others' cores during the rounds: median ${median(summaries.map((t) => t.cpu?.otherCores ?? 0)).toFixed(2)})`;
  const memoryLine = `Memory of our server: peak ${memory.peakMb} MB (per round of targets: ${roundPeaks.join(', ')} MB), ${memory.endMb} MB after the run.`;
  const markdown = formatMarkdown({ date: startedAt.toISOString().slice(0, 16).replace('T', ' ') + ' UTC', machine: machineLine, minutes: result.minutes, targets: summaries, checks, memory: memoryLine });
  const written = writeResults(join(ROOT, 'bench-results'), stamp, result, markdown);

  log('');
  log(`Results (${info.cpus} x ${info.cpuModel}, Node ${info.node}, ${info.postgres}; medians of ${opts.rounds} rounds)`);
  log(formatTable(summaries));
  log('');
  log(memoryLine);
  log('');
  log('Where the CPU went (medians of the rounds; cores = CPU seconds per second):');
  log(formatCpuTable(summaries));
  log('');
  log(formatChecks(checks));
  if (profile) {
    log('');
    log(`CPU profile of our server (${profileDir}), share of its busy time (self):`);
    log(`  by package:  ${profile.byPackage.map(([k, v]) => `${k} ${v}%`).join(', ')}`);
    for (const [fn, pct] of profile.byFunction) log(`  ${pct.toFixed(1).padStart(5)}%  ${fn}`);
  }
  log('');
  log(`Written ${written.file} (and ${written.latest}, ${written.markdown}) in ${result.minutes} min`);
  return opts.strict && checks.some((c) => c.status === 'fail') ? 1 : 0;
}

const state: { dbName?: string; admin?: pg.Client } = {};
let opts: Options;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll().catch(() => undefined);
    await state.admin?.end().catch(() => undefined);
    if (state.dbName && opts) {
      if (opts.keepDb) {
        log(`Kept the database ${state.dbName} (BENCH_KEEP_DB=1): drop it with DROP DATABASE ${state.dbName}`, true);
      } else {
        await dropDatabase(opts.adminUrl, state.dbName).catch((err) => log(`Could not drop the database ${state.dbName}: ${(err as Error).message}`, true));
      }
    }
  })();
  return cleaning;
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.on(signal, () => {
    log(`\n${signal}: stopping the child processes and dropping the benchmark database`, true);
    interrupted = true;
    void cleanup().finally(() => process.exit(code));
  });
}
process.on('exit', killAllNow);

try {
  opts = readOptions(process.env);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
main(opts, state)
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    process.stderr.write(`\nThe benchmark failed: ${err instanceof BenchSetupError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    await cleanup();
    process.exit(1);
  });
