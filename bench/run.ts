import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { createKnex } from '../src/db/knex';
import { migrateLatest } from '../src/db/migrate';
import { BenchSetupError, benchDatabaseName, connectAdmin, createDatabase, databaseUrl, DEFAULT_ADMIN_URL, dropDatabase, redactUrl } from './db';
import { ClosedLoad, HttpCall, LoginForms, runClosed } from './load';
import pg from 'pg';
import { assertChildrenAlive, CpuMeter, killAllNow, processTree, residentKinds, RssSampler, ServerChild, sleep, startBenchChild, startServer, stopAll } from './procs';
import { HeapSummary, summarizeHeapSnapshot, takeHeapSnapshot } from './heap';
import { describeMachine, LIMITS, LogReport, memoryReport, report, RoundSummary, scaleLabel, Side, TargetDef, TargetRecorder, WebConcurrencyReport } from './report';
import { findPgBouncer, NO_PGBOUNCER, PgBouncer, startPgBouncer } from '../test/support/pgbouncer';
import { createCodes, growDatabase, seedDatabase, SeedResult } from './seed';

/**
 * `npm run bench`: one run that creates a throwaway database on the machine's PostgreSQL, seeds
 * it, starts our server, the floor and the peer as child processes, and measures every target in
 * short rounds, alternating targets so machine noise hits all of them alike. Prints a table and
 * the pass/fail of each goal, and writes the same as JSON (bench-results/). See README, Benchmark.
 */

const ROOT = resolve(__dirname, '..', '..');
/**
 * Tokens of the rows within sessions (api-me, api-bookmarks; see defineTargets): WARM_SET per
 * round, a fresh slice each round (WARM_SLICES of them in turn), so that every one was stored in
 * the cache by that round's own priming pass: a cache hit does not renew an entry, which is read
 * again 5 minutes after it was stored, and a slice primed rounds ago would expire in the middle of
 * a row.
 */
const WARM_SET = 5000;
/** The token cache's backstop (src/oauth/revocation/revocable-cache.ts): an entry older is read again. */
const CACHE_BACKSTOP_MS = 300_000;
const WARM_SLICES = 4;
const MB = 1024 * 1024;

function intEnv(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new BenchSetupError(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  return n;
}

const ALL_TARGETS = ['floor', 'api-me', 'api-me-cold', 'api-bookmarks', 'refresh-off', 'refresh-rotate', 'code-exchange', 'introspect', 'peer-refresh', 'peer-introspect', 'logins'];

function readOptions(env: NodeJS.ProcessEnv) {
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
    /** The second scale: live access tokens (and grants, refresh tokens, users) the tables grow to; 0 skips it. */
    scaleTokens: intEnv(env, 'BENCH_SCALE_TOKENS', 5_000_000, 0, 100_000_000),
    variants: readVariants(env.BENCH_VARIANTS),
    targets,
    cpuProf: env.BENCH_CPU_PROF === '1',
    keepDb: env.BENCH_KEEP_DB === '1',
    strict: env.BENCH_STRICT === '1',
    serverEnv,
  };
}

/** Servers beside the main one, each measured on VARIANT_TARGETS (rows `<target>@<variant>`). */
const VARIANTS = {
  pipe: 'defaults, standard output to a pipe read by another process',
  'quiet-logs': 'LOG_LEVEL=warn (no request lines), for comparison only',
  metrics: 'defaults, log to a file; METRICS_TOKEN set (GET /metrics on, every request counted)',
  pgbouncer: 'defaults, log to a file; through PgBouncer (transaction pooling, 10 server connections), DATABASE_POOLING=transaction',
} as const;
type Variant = keyof typeof VARIANTS;
const VARIANT_TARGETS = ['api-me', 'refresh-off'];

function readVariants(raw: string | undefined): Variant[] {
  if (raw === undefined) return Object.keys(VARIANTS) as Variant[];
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = list.filter((v) => !(v in VARIANTS));
  if (unknown.length) throw new BenchSetupError(`BENCH_VARIANTS: unknown ${unknown.join(', ')} (known: ${Object.keys(VARIANTS).join(', ')}; empty for none)`);
  return list as Variant[];
}

let interrupted = false;
/** Progress and results on stdout; silent once interrupted (the rounds still winding down measure nothing). */
const log = (m: string, always = false) => {
  if (!interrupted || always) process.stdout.write(`${m}\n`);
};

/** What the cleanup needs, set as soon as it exists. */
const state: { dbName?: string; admin?: pg.Client; pgbouncer?: PgBouncer } = {};

/** The throwaway database, created on the admin connection (which also reads its backends' pids). */
async function openDatabase(opts: Options, startedAt: Date) {
  log(`Linkbridge benchmark: PostgreSQL at ${redactUrl(opts.adminUrl)} (set BENCH_DATABASE_URL to change)`);
  const admin = await connectAdmin(opts.adminUrl);
  const pgVersion = (await admin.query<{ v: string }>("SELECT split_part(version(), ' on ', 1) AS v")).rows[0].v;
  const dbName = benchDatabaseName(startedAt);
  await createDatabase(admin, dbName);
  Object.assign(state, { dbName, admin });
  const backendPids = async () => (await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [dbName])).rows.map((r) => r.pid);
  return { dbName, url: databaseUrl(opts.adminUrl, dbName), pgVersion, backendPids };
}

function noteMachine(pgVersion: string) {
  const info = describeMachine(pgVersion, ROOT);
  log(`Machine: ${info.cpus} x ${info.cpuModel}, ${info.memoryGb} GB, ${info.os}, Node ${info.node}, ${info.postgres}`);
  if (info.loadAverageAtStart > info.cpus / 2) {
    log(`Note: the machine is busy (load average ${info.loadAverageAtStart} on ${info.cpus} cores): absolute figures will be noisy; the ratios of one run hold better.`);
  }
  return info;
}

async function migrateAndSeed(dbName: string, url: string, opts: Options): Promise<SeedResult> {
  log(`Database ${dbName}: migrating and seeding`);
  const knex = createKnex({ url, poolMax: 2 });
  try {
    await migrateLatest(knex);
    const sizes = { users: opts.users, rotateGrants: Math.max(1000, Math.floor(opts.users / 10)), recipes: opts.recipes, apiTokens: Math.min(20000, opts.users), warmTokens: WARM_SLICES * WARM_SET, coldTokens: 100000, refreshTokens: 5000, peerFiller: opts.users };
    const seed = await seedDatabase(knex, url, sizes, log);
    log(`Seeded in ${seed.seconds.toFixed(1)} s: ${Object.entries(seed.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    return seed;
  } finally {
    await knex.destroy();
  }
}

interface PeerReady {
  clientId: string;
  clientSecret: string;
  refreshTokens: string[];
  accessTokens: string[];
}

/** One of our servers: its URL, the process group whose memory and CPU are reported, its configuration. */
interface OurServer {
  key: 'main' | Variant;
  child: ServerChild;
  url: URL;
  group: string;
  config: string;
}

/** Our server at its defaults (log to a file), the variants, the floor and the peer, with the memory of each watched. */
async function startProcesses(url: string, opts: Options, profileDir: string | undefined, logDir: string) {
  log('Starting our server (its defaults: LOG_LEVEL unset, so info; standard output to a file), the floor and the peer');
  const at = (port: number) => new URL(`http://127.0.0.1:${port}`);
  const ours: OurServer[] = [];
  const main = await startServer({ name: 'linkbridge', databaseUrl: url, webConcurrency: 1, serverEnv: opts.serverEnv, logs: 'file', logDir, profileDir });
  ours.push({ key: 'main', child: main, url: at(main.port), group: 'linkbridge', config: 'defaults, log to a file' });
  for (const key of opts.variants) {
    let databaseUrl = url;
    let serverEnv = opts.serverEnv;
    if (key === 'pgbouncer') {
      if (!findPgBouncer()) {
        log(`Skipping the PgBouncer rows: ${NO_PGBOUNCER}`);
        continue;
      }
      const bouncer = await startPgBouncer({ databaseUrl: url, poolSize: 10 });
      state.pgbouncer = bouncer;
      databaseUrl = bouncer.url;
      serverEnv = { DATABASE_POOLING: 'transaction', DATABASE_LISTEN_URL: url, ...opts.serverEnv };
    }
    if (key === 'metrics') serverEnv = { METRICS_TOKEN: randomBytes(24).toString('hex'), ...opts.serverEnv };
    log(`Starting another server of ours: ${VARIANTS[key]}`);
    const logs = key === 'pgbouncer' || key === 'metrics' ? 'file' : key;
    const child = await startServer({ name: `linkbridge-${key}`, databaseUrl, webConcurrency: 1, serverEnv, logs, logDir });
    ours.push({ key, child, url: at(child.port), group: `linkbridge-${key}`, config: VARIANTS[key] });
  }
  const floor = await startBenchChild('floor', 'floor.js', (port) => ({ NODE_ENV: 'production', FLOOR_DATABASE_URL: url, FLOOR_PORT: String(port) }));
  const peer = await startBenchChild<PeerReady>('peer (oidc-provider)', 'peer.js', (port) => ({
    NODE_ENV: 'development',
    PEER_DATABASE_URL: url,
    PEER_PORT: String(port),
    PEER_REFRESH_TOKENS: '2000',
    PEER_ACCESS_TOKENS: '5000',
  }));
  const sampler = new RssSampler();
  for (const s of ours) sampler.watch(s.group, s.child.proc.pid);
  sampler.watch('floor', floor.child.proc.pid);
  sampler.watch('peer', peer.child.proc.pid);
  return { sampler, ours, url: { ours: ours[0].url, floor: at(floor.child.port), peer: at(peer.child.port) }, peer: peer.ready };
}
type Processes = Awaited<ReturnType<typeof startProcesses>>;

/** A closed-loop load (every answer expected to be a 200) on one of the processes. */
interface Target extends Pick<ClosedLoad, 'connections' | 'next' | 'onBody'> {
  def: TargetDef;
  /** The process tree whose memory and CPU are reported for it. */
  group: string;
  base: URL;
  /** Before each round, given the target's rounds so far. */
  prepare?: (done: RoundSummary[]) => Promise<void>;
  /** Requests sent before the warm-up (not measured, their answers checked and logged like the rest). */
  prime?: number;
  /** Runs the fixed-rate logins alongside (the "API while logins run" target). */
  withLogins?: boolean;
}

/** The targets, one row each: the process it loads (side) and the requests it sends. */
function defineTargets(opts: Options, seed: SeedResult, databaseUrl: string, procs: Processes): Target[] {
  const cycle = <T>(items: T[]) => {
    let i = 0;
    return () => items[i++ % items.length];
  };
  // Tokens and codes each load cycles through (many distinct ones: no cache sees a repeat soon).
  const apiToken = cycle(seed.apiTokens);
  // The API as a skill calls it within sessions: WARM_SET tokens, each one used in the minute
  // before (a priming pass per round, then the round repeats them), a fresh slice each round. And
  // each token's first call, the cache cold: tokens never used before (after the 5-minute
  // backstop, a repeat is cold too).
  const sessions = (pool: string[], what: string) => {
    const slices = Array.from({ length: WARM_SLICES }, (_, i) => pool.slice(i * WARM_SET, (i + 1) * WARM_SET)).filter((slice) => slice.length > 0);
    if (slices.length === 0) throw new BenchSetupError(`BENCH_USERS is too small for ${what}'s own tokens`);
    const state = { set: slices[0], token: cycle(slices[0]) };
    return {
      size: state.set.length,
      token: () => state.token(),
      /** Before a round: that round's slice (primed right after). */
      prepare: async (done: RoundSummary[]) => {
        state.set = slices[done.length % slices.length];
        state.token = cycle(state.set);
      },
    };
  };
  const meSessions = sessions(seed.warmTokens, 'the api-me rows');
  // The users with bookmarks (the apiTokens' users): only api-bookmarks puts their tokens in the cache.
  const bookmarkSessions = sessions(seed.apiTokens, 'api-bookmarks');
  // First calls: a token comes back only after the whole pool (60,000 here), by then minutes
  // later than the cache's 5-minute backstop at the default load; a smaller pool is said.
  if (seed.coldTokens.length === 0) throw new BenchSetupError(`BENCH_USERS is too small for api-me-cold's tokens (needs more than ${seed.apiTokens.length + seed.warmTokens.length})`);
  if (seed.coldTokens.length < 40000) log(`Note: only ${seed.coldTokens.length} tokens for api-me-cold (BENCH_USERS); a token reused within 5 minutes is a cache hit there.`);
  // And said when it happens anyway (a run of api-me-cold alone, a fast machine): from then on the
  // row is partly warm.
  const coldLastUse = new Float64Array(seed.coldTokens.length);
  let coldIndex = 0;
  let coldReuseSaid = false;
  const coldToken = () => {
    const i = coldIndex++ % seed.coldTokens.length;
    const now = Date.now();
    if (!coldReuseSaid && coldLastUse[i] > 0 && now - coldLastUse[i] < CACHE_BACKSTOP_MS) {
      coldReuseSaid = true;
      log(`Note: api-me-cold uses its tokens again within 5 minutes (${seed.coldTokens.length} in ${((now - coldLastUse[i]) / 1000).toFixed(0)} s): from here its requests may hit the token cache.`);
    }
    coldLastUse[i] = now;
    return seed.coldTokens[i];
  };
  const floorHash = cycle(seed.apiTokenHashes);
  const refreshOff = cycle(seed.refreshOff);
  const rotatePool = [...seed.refreshRotate]; // each answer gives the next token, as Alexa keeps it
  const peerRefresh = cycle(procs.peer.refreshTokens);
  const peerAccess = cycle(procs.peer.accessTokens);
  const codes: string[] = [];
  let codesMade = 0;
  /** Enough fresh codes for a round at the fastest rate seen so far (at least 1000/s), with margin. */
  const refillCodes = async (done: RoundSummary[]) => {
    const need = Math.ceil(Math.max(1000, ...done.map((r) => r.reqPerSec)) * (opts.seconds + opts.warmup + 2) * 1.5);
    if (codes.length >= need) return;
    const made = await createCodes(databaseUrl, seed.clientOff, seed.offGrantIds, need - codes.length, codesMade);
    codesMade += made.length;
    codes.push(...made);
  };
  const basic = (c: { clientId: string; clientSecret: string }) => `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`;
  const [offAuth, rotateAuth, peerAuth] = [seed.clientOff, seed.clientRotate, procs.peer].map(basic);
  const post = (path: string, authorization: string, body: string): HttpCall => ({ method: 'POST', path, headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body });
  const bearerGet = (path: string, token: () => string): HttpCall => ({ method: 'GET', path, headers: { authorization: `Bearer ${token()}` } });
  const redirectUri = encodeURIComponent(seed.clientOff.redirectUri);

  type Row = Omit<Target, 'def' | 'group' | 'base' | 'connections'> & { name: string; label: string; side?: Side; peer?: string; connections?: number };
  const rows: Row[] = [
    { name: 'floor', side: 'floor', label: 'bare Express + pg: one indexed SELECT by token hash', next: () => ({ method: 'GET', path: `/floor/${floorHash()}` }) },
    { name: 'api-me', label: `GET /api/me with a bearer token, within sessions (${meSessions.size} tokens, each used in the minute before)`, prepare: meSessions.prepare, prime: meSessions.size, next: () => bearerGet('/api/me', meSessions.token) },
    { name: 'api-me-cold', label: "GET /api/me with a bearer token, each token's first call (the token cache cold)", next: () => bearerGet('/api/me', coldToken) },
    {
      name: 'api-bookmarks', label: `GET /api/bookmarks with a bearer token, within sessions (${bookmarkSessions.size} tokens, each used in the minute before)`,
      prepare: bookmarkSessions.prepare, prime: bookmarkSessions.size, next: () => bearerGet('/api/bookmarks', bookmarkSessions.token),
    },
    {
      name: 'refresh-off', label: 'refresh_token grant, HTTP Basic, policy off (Alexa default)', peer: 'peer-refresh',
      next: () => post('/oauth/token', offAuth, `grant_type=refresh_token&refresh_token=${refreshOff()}`),
    },
    {
      name: 'refresh-rotate', label: 'refresh_token grant, HTTP Basic, policy rotate', peer: 'peer-refresh',
      next: () => post('/oauth/token', rotateAuth, `grant_type=refresh_token&refresh_token=${rotatePool.shift() ?? seed.refreshRotate[0]}`),
      onBody: (body) => {
        const rt = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
        if (rt) rotatePool.push(rt);
      },
    },
    {
      name: 'code-exchange', label: 'authorization_code grant (single-use codes), HTTP Basic', connections: opts.codeConnections, prepare: refillCodes,
      next: () => post('/oauth/token', offAuth, `grant_type=authorization_code&code=${codes.shift() ?? 'lb_ac_exhausted'}&redirect_uri=${redirectUri}`),
    },
    {
      name: 'introspect', label: 'POST /oauth/introspect of an access token, HTTP Basic', peer: 'peer-introspect',
      next: () => post('/oauth/introspect', offAuth, `token=${apiToken()}&token_type_hint=access_token`),
    },
    {
      name: 'peer-refresh', side: 'peer', label: 'oidc-provider: refresh_token grant, HTTP Basic, no rotation',
      next: () => post('/token', peerAuth, `grant_type=refresh_token&refresh_token=${peerRefresh()}`),
    },
    {
      name: 'peer-introspect', side: 'peer', label: 'oidc-provider: introspection of an access token',
      next: () => post('/token/introspection', peerAuth, `token=${peerAccess()}&token_type_hint=access_token`),
    },
    { name: 'api-me+logins', label: `GET /api/me within sessions while ${opts.loginRate} logins/s run`, withLogins: true, prepare: meSessions.prepare, prime: meSessions.size, next: () => bearerGet('/api/me', meSessions.token) },
  ];
  const groups: Record<Side, string> = { ours: 'linkbridge', floor: 'floor', peer: 'peer' };
  const configs: Record<Side, string> = { ours: procs.ours[0].config, floor: 'no logging', peer: 'its defaults, no logging' };
  const targets: Target[] = rows
    .filter((r) => !opts.targets || opts.targets.has(r.withLogins ? 'logins' : r.name))
    .map(({ name, label, side = 'ours', peer, connections = opts.connections, ...load }) => ({
      def: { name, label, side, load: `${connections} conns`, peer, config: configs[side] },
      group: groups[side],
      base: procs.url[side],
      connections,
      ...load,
    }));
  // The same loads on the other servers of ours, alternated with the rest.
  for (const server of procs.ours.slice(1)) {
    for (const t of targets.filter((x) => VARIANT_TARGETS.includes(x.def.name))) {
      targets.push({ ...t, def: { ...t.def, name: `${t.def.name}@${server.key}`, config: server.config }, base: server.url, group: server.group });
    }
  }
  return targets;
}

/** Measures one target for one round (warm-up discarded, then the measured seconds with memory and CPU) and keeps every round. */
function measurer(opts: Options, sampler: RssSampler, cpu: CpuMeter, logins: LoginForms) {
  const recorders = new Map<string, TargetRecorder>();
  /** Every answer each server gave (warm-ups too): what its log must have a line for. */
  const answered = new Map<string, number>();
  const recorder = (def: TargetDef) => recorders.get(def.name) ?? recorders.set(def.name, new TargetRecorder(def)).get(def.name)!;
  const loginDef: TargetDef = { name: 'login', label: `POST /login (argon2id) at a fixed ${opts.loginRate}/s`, side: 'ours', load: `${opts.loginRate}/s`, fixedRate: true };
  const closed = async (t: Target, seconds: number, amount?: number) => {
    const res = await runClosed({ url: t.base.origin, connections: t.connections, seconds, amount, expectStatus: 200, next: t.next, onBody: t.onBody });
    const n = Object.values(res.statuses).reduce((a, b) => a + b, 0);
    answered.set(t.base.origin, (answered.get(t.base.origin) ?? 0) + n);
    return res;
  };
  const progress = (label: string, def: TargetDef, s: RoundSummary) =>
    log(
      `${label} ${def.name.padEnd(16)} ${s.reqPerSec.toFixed(def.fixedRate ? 1 : 0).padStart(6)} ${def.fixedRate ? '/s   ' : 'req/s'}  ` +
        `p50 ${s.p50.toFixed(2).padStart(7)}  p99 ${s.p99.toFixed(2).padStart(7)} ms${s.bad ? `  bad ${s.bad} ${JSON.stringify(s.statuses)}` : ''}`,
    );

  const run = async (t: Target, label: string) => {
    assertChildrenAlive();
    await t.prepare?.(recorder(t.def).rounds);
    if (t.withLogins) await logins.refill(opts.loginRate * (opts.seconds + opts.warmup + 2) + 20);
    if (t.prime) {
      const primed = await closed(t, 0, t.prime);
      if (primed.ok < t.prime) throw new Error(`${t.def.name}: ${t.prime - primed.ok} bad answers while priming: ${JSON.stringify(primed.statuses)}, ${primed.errors} errors`);
    }
    const pacer = t.withLogins ? logins.pace(opts.loginRate) : undefined;
    if (opts.warmup) await closed(t, opts.warmup);
    pacer?.mark();
    sampler.resetRound();
    const pids = sampler.pids(t.group);
    const c0 = await cpu.start(pids);
    const res = await closed(t, opts.seconds);
    const paced = await pacer?.stop();
    const used = await cpu.stop(c0, pids, res.ok + (paced?.ok ?? 0));
    const peak = sampler.roundPeak(t.group) / MB;
    progress(label, t.def, recorder(t.def).add(res, peak, used));
    if (paced) progress(label, loginDef, recorder(loginDef).add(paced, peak));
  };
  return { run, recorders, answered };
}
type Measurer = ReturnType<typeof measurer>;

/** Every target once per round, alternating; returns our server's peak resident size (MB) in each round. */
async function alternate(targets: Target[], opts: Options, measure: Measurer, sampler: RssSampler): Promise<number[]> {
  const perTarget = opts.seconds + opts.warmup + 0.5;
  const minutes = Math.ceil((targets.length * opts.rounds * perTarget + (opts.webConcurrency > 1 ? 4 * perTarget + 5 : 0)) / 60);
  log(`Measuring ${targets.length} targets x ${opts.rounds} rounds (${opts.warmup} s warm-up + ${opts.seconds} s each, alternating), about ${minutes} min`);
  const peaks: number[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    let peak = 0;
    for (const t of targets) {
      await measure.run(t, `[${round}/${opts.rounds}]`);
      peak = Math.max(peak, sampler.roundPeak('linkbridge') / MB);
    }
    peaks.push(peak);
  }
  return peaks;
}

/** Several processes: a second server with WEB_CONCURRENCY, alternated with the first on /api/me. */
async function compareWebConcurrency(opts: Options, url: string, logDir: string, apiMe: Target | undefined, measure: Measurer, sampler: RssSampler): Promise<WebConcurrencyReport | undefined> {
  const n = opts.webConcurrency;
  if (n <= 1 || !apiMe) return undefined;
  log(`Starting a second server with WEB_CONCURRENCY=${n}`);
  const several = await startServer({ name: `linkbridge-wc${n}`, databaseUrl: url, webConcurrency: n, serverEnv: opts.serverEnv, logs: 'file', logDir });
  await sleep(1000);
  const processes = processTree(several.proc.pid!).length;
  sampler.watch('linkbridge-wc', several.proc.pid);
  const one: Target = { ...apiMe, def: { ...apiMe.def, name: 'api-me@1proc', label: 'GET /api/me, WEB_CONCURRENCY=1 (alternated with the next)' } };
  const many: Target = {
    ...apiMe,
    def: { ...apiMe.def, name: `api-me@wc${n}`, label: `GET /api/me, WEB_CONCURRENCY=${n} (${processes} processes)` },
    base: new URL(`http://127.0.0.1:${several.port}`),
    group: 'linkbridge-wc',
  };
  for (let round = 1; round <= 2; round++) for (const t of [one, many]) await measure.run(t, `[wc ${round}/2]`);
  const [oneProcessReqPerSec, severalReqPerSec] = [one, many].map((t) => measure.recorders.get(t.def.name)!.summary().reqPerSec);
  const ratio = oneProcessReqPerSec ? severalReqPerSec / oneProcessReqPerSec : 0;
  sampler.unwatch('linkbridge-wc');
  await several.stop();
  return { requested: n, processes, oneProcessReqPerSec, severalReqPerSec, ratio, cores: os.cpus().length };
}

/** The same targets (ours and the floor) again once the tables hold `opts.scaleTokens` live tokens. */
async function measureAtScale(opts: Options, db: { url: string }, seed: SeedResult, targets: Target[], measure: Measurer, sampler: RssSampler) {
  const base = seed.counts.oauth_access_tokens;
  if (opts.scaleTokens <= base) return undefined;
  const label = scaleLabel(opts.scaleTokens);
  log(`Growing the tables from ${base} to ${opts.scaleTokens} live access tokens (and as many grants, refresh tokens and users)`);
  const grown = await growDatabase(db.url, seed.clientOff.id, opts.scaleTokens, log);
  log(`Grown in ${grown.seconds.toFixed(0)} s: ${Object.entries(grown.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const scaled = targets
    .filter((t) => t.def.side !== 'peer' && !t.def.name.includes('@') && !t.withLogins)
    .map((t) => ({ ...t, def: { ...t.def, name: `${t.def.name}@${label}`, config: `${t.def.config}; ${label} live tokens` } }));
  const roundPeaks = await alternate(scaled, opts, measure, sampler);
  return { report: { label, baseTokens: base, tokens: grown.counts.oauth_access_tokens, seedSeconds: Math.round(grown.seconds), counts: grown.counts }, roundPeaks };
}

/** Stops our servers (SIGTERM: their logs are flushed) and counts their request lines against the answers they gave. */
async function checkLogs(procs: Processes, answered: Map<string, number>): Promise<LogReport[]> {
  const out: LogReport[] = [];
  for (const s of procs.ours) {
    await s.child.stop();
    if (!s.child.logFile) continue;
    let lines = 0;
    let bytes = 0;
    if (existsSync(s.child.logFile)) {
      const text = readFileSync(s.child.logFile, 'utf8');
      bytes = text.length;
      for (const line of text.split('\n')) if (line.includes('"msg":"request ') && !line.includes('"path":"/readyz"')) lines++;
    }
    out.push({ server: s.key, config: s.config, file: s.child.logFile, answers: answered.get(s.url.origin) ?? 0, lines, mb: Math.round((bytes / MB) * 10) / 10 });
  }
  return out;
}

async function main(opts: Options): Promise<number> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const db = await openDatabase(opts, startedAt);
  const machine = noteMachine(db.pgVersion);
  const seed = await migrateAndSeed(db.dbName, db.url, opts);
  const profileDir = opts.cpuProf ? join(ROOT, 'bench-results', 'profiles', stamp) : undefined;
  const logDir = join(ROOT, 'bench-results', 'logs', stamp);
  const procs = await startProcesses(db.url, opts, profileDir, logDir);
  const targets = defineTargets(opts, seed, db.url, procs);
  const measure = measurer(opts, procs.sampler, new CpuMeter(db.backendPids), new LoginForms(procs.url.ours, seed.password, seed.emails));

  const roundPeaks = await alternate(targets, opts, measure, procs.sampler);
  const scale = await measureAtScale(opts, db, seed, targets, measure, procs.sampler);
  if (scale) roundPeaks.push(...scale.roundPeaks);
  const webConcurrency = await compareWebConcurrency(opts, db.url, logDir, targets.find((t) => t.def.name === 'api-me'), measure, procs.sampler);

  assertChildrenAlive();
  await sleep(1500);
  const endMb = procs.sampler.now('linkbridge') / MB;
  // Idle, the server gives back what the load made the heap reserve (IDLE_GC_SECONDS, 5 to 10 s
  // after the last request): resident size once it stops falling, after 15 s and up to ~35 s.
  let settledMb = endMb;
  for (let i = 0, last = Infinity; i < 20 && (i < 15 || settledMb < last - 0.5); i++) {
    last = settledMb;
    await sleep(i < 15 ? 1000 : 4000);
    settledMb = procs.sampler.now('linkbridge') / MB;
  }
  const memory = memoryReport(roundPeaks, procs.sampler.peak('linkbridge') / MB, endMb, settledMb, residentKinds(procs.ours[0].child.proc.pid!));
  let heap: HeapSummary | undefined;
  if (settledMb >= LIMITS.memoryMaxMb) {
    log(`Our server holds ${settledMb.toFixed(0)} MB after the run: taking a heap snapshot of it`);
    const file = await takeHeapSnapshot(procs.ours[0].child.proc, logDir);
    heap = file ? summarizeHeapSnapshot(file) : undefined;
  }
  procs.sampler.stop();
  const logs = await checkLogs(procs, measure.answered);
  await stopAll();

  const { rounds, seconds, warmup: warmupSeconds, connections, codeConnections, loginRate, serverEnv } = opts;
  const checks = report(
    {
      startedAt,
      machine,
      settings: { rounds, seconds, warmupSeconds, connections, codeConnections, loginRate, serverEnv },
      seed: { seconds: seed.seconds, counts: seed.counts },
      targets: [...measure.recorders.values()].map((r) => r.summary()),
      memory,
      webConcurrency,
      profileDir,
      scale: scale?.report,
      logs,
      heap,
    },
    join(ROOT, 'bench-results'),
    log,
  );
  return opts.strict && checks.some((c) => c.status === 'fail') ? 1 : 0;
}

type Options = ReturnType<typeof readOptions>;
let opts: Options;
let cleaning: Promise<void> | undefined;

/** Stops the children and drops the database (unless BENCH_KEEP_DB=1): after success, failure or a signal. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll().catch(() => undefined);
    await state.pgbouncer?.stop().catch(() => undefined);
    await state.admin?.end().catch(() => undefined);
    if (!state.dbName || !opts) return;
    if (opts.keepDb) log(`Kept the database ${state.dbName} (BENCH_KEEP_DB=1): drop it with DROP DATABASE ${state.dbName}`, true);
    else await dropDatabase(opts.adminUrl, state.dbName).catch((err) => log(`Could not drop the database ${state.dbName}: ${(err as Error).message}`, true));
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
main(opts)
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    process.stderr.write(`\nThe benchmark failed: ${err instanceof BenchSetupError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    await cleanup();
    process.exit(1);
  });
