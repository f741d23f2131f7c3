import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import request from 'supertest';
import { REVOCATION_CHANNEL } from '../../src/oauth/revocation/revocation-bus';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, TEST_ENCRYPTION_KEY, TEST_SESSION_SECRET, TestContext } from '../support/context';
import { createThrowawayDatabase, findPgBouncer, NO_PGBOUNCER, PgBouncer, pgBouncerShow, startPgBouncer } from '../support/pgbouncer';
import { ServerProcess, startServerProcess } from '../support/server-process';
import { issueAccessToken } from '../support/tokens';

/**
 * The server behind PgBouncer 1.18 in transaction mode (issue 13), as larger deployments run it:
 * a real pgbouncer process of the test's own, with 2 server connections for an app pool of 8, so
 * one app connection's statements land on different PostgreSQL sessions. Runs where PostgreSQL
 * is reachable (TEST_DATABASE_URL, else 127.0.0.1:5432) and pgbouncer is installed; skipped
 * otherwise, unless REQUIRE_PGBOUNCER=1 (.ci/run), where a missing pgbouncer fails.
 */
const SERVER_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const POOL_SIZE = 2;
const APP_POOL = 8;

/** Synchronously, so the suite can decide to skip before it is declared. */
function reachable(url: string): boolean {
  const u = new URL(url);
  const probe = `require('net').connect({host:${JSON.stringify(u.hostname || '127.0.0.1')},port:${Number(u.port || 5432)}})` +
    '.on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))';
  return spawnSync(process.execPath, ['-e', probe], { timeout: 5000 }).status === 0;
}

function describeBehindPgBouncer(name: string, fn: () => void): void {
  if (!findPgBouncer()) {
    if (process.env.REQUIRE_PGBOUNCER === '1') throw new Error(`REQUIRE_PGBOUNCER=1 but ${NO_PGBOUNCER}`);
    console.warn(`${NO_PGBOUNCER}: skipping the PgBouncer tests (.ci/run installs it and sets REQUIRE_PGBOUNCER=1)`);
    return describe.skip(name, fn);
  }
  if (!reachable(SERVER_URL)) {
    console.warn(`no PostgreSQL at ${new URL(SERVER_URL).host}: skipping the PgBouncer tests`);
    return describe.skip(name, fn);
  }
  describe(name, fn);
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-pgbouncer-data-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const serverEnv = (extra: Record<string, string>) => ({
  SESSION_SECRET: TEST_SESSION_SECRET,
  ENCRYPTION_KEYS: TEST_ENCRYPTION_KEY,
  PUBLIC_URL: 'http://localhost:3000',
  DATA_DIR: dataDir,
  LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '100000',
  SIGNUP_MAX_ATTEMPTS_PER_ADDRESS: '100000',
  DB_POOL_MAX: String(APP_POOL),
  ...extra,
});

const me = (base: string, token: string) => request(base).get('/api/me').set('authorization', `Bearer ${token}`);

/** The app's connections to the pooler and the pooler's to PostgreSQL, for our database only. */
async function connections(bouncer: PgBouncer, database: string) {
  const ours = (rows: Array<Record<string, unknown>>) => rows.filter((r) => r.database === database);
  return { clients: ours(await pgBouncerShow(bouncer, 'CLIENTS')).length, servers: ours(await pgBouncerShow(bouncer, 'SERVERS')).length };
}

/** Fresh tokens: each one's first validation is a cache miss, so it reaches the database. */
async function freshTokens(ctx: TestContext, userId: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await issueAccessToken(ctx, { userId })).token);
  return out;
}

describe('DATABASE_POOLING=transaction without DATABASE_LISTEN_URL', () => {
  it('when the server starts, then it refuses with a configuration message naming what to set (no stack trace)', async () => {
    const server = startServerProcess(serverEnv({ DATABASE_URL: 'postgres://postgres@127.0.0.1:6432/linkbridge', DATABASE_POOLING: 'transaction' }));
    const failure = (await server.ready.then(
      () => undefined,
      (err: unknown) => err,
    )) as { code?: number; output?: string } | undefined;
    await server.stop();
    expect(failure?.code).toBe(1);
    expect(failure?.output).toMatch(/Invalid configuration:\n {2}- DATABASE_LISTEN_URL: required when DATABASE_POOLING=transaction\. Set it to PostgreSQL itself, not the pooler/);
    expect(failure?.output).not.toMatch(/\n\s+at /);
  }, 30000);
});

describeBehindPgBouncer('behind PgBouncer 1.18 in transaction mode', () => {
  let db: Awaited<ReturnType<typeof createThrowawayDatabase>>;
  let bouncer: PgBouncer;
  let server: ServerProcess;
  let base: string;
  let ctx: TestContext;

  beforeAll(async () => {
    db = await createThrowawayDatabase(SERVER_URL);
    bouncer = await startPgBouncer({ databaseUrl: db.url, poolSize: POOL_SIZE });
    // Migrations too run through the pooler: the server applies them at start.
    server = startServerProcess(serverEnv({ DATABASE_URL: bouncer.url, DATABASE_POOLING: 'transaction', DATABASE_LISTEN_URL: db.url }));
    base = server.url(await server.ready);
    ctx = createTestContext({ DATABASE_URL: db.url });
  }, 60000);
  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
    await ctx?.close();
    await bouncer?.stop();
    await db?.drop();
  });

  it('when it starts, then it names the pooling mode and warns that the server sessions have no statement timeout', () => {
    expect(server.output()).toContain('DATABASE_POOLING=transaction');
    expect(server.output()).toMatch(/statement_timeout is 0 on the server sessions/);
  });

  it('when Alexa links, exchanges and refreshes under both refresh policies, and the API is called concurrently, then all succeed on 2 shared server connections', async () => {
    const user = await createUser(ctx);
    for (const rotation of ['off', 'rotate'] as const) {
      const alexa = new AlexaSimulator(base, await createAlexaClient(ctx, { rotation }));
      const first = await alexa.link(user);
      for (let i = 0; i < 3; i++) expect((await alexa.refresh()).status).toBe(200);
      if (rotation === 'rotate') expect(alexa.tokens!.refresh_token).not.toBe(first.refresh_token);
      // The same refresh token at once (a retried request): every one answers with tokens.
      const same = alexa.tokens!.refresh_token;
      const parallel = await Promise.all([0, 1, 2, 3].map(() => alexa.refresh(same)));
      expect(parallel.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect((await me(base, alexa.tokens!.access_token)).status).toBe(200);
    }

    const tokens = await freshTokens(ctx, user.id, 24);
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(tokens.map((t) => me(base, t)));
      expect(answers.map((r) => r.status)).toEqual(tokens.map(() => 200));
      expect(answers[0].body.email).toBe(user.email);
    }
    // More app connections than server connections: their statements were spread over sessions.
    const { clients, servers } = await connections(bouncer, db.name);
    expect(servers).toBeLessThanOrEqual(POOL_SIZE);
    expect(clients).toBeGreaterThan(POOL_SIZE);
    expect(server.output()).not.toMatch(/prepared statement/);
  });

  it('when a token is revoked, then the revocation reaches the token cache at once: the listener hears NOTIFYs sent through the pooler', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(base, await createAlexaClient(ctx));
    const tokens = await alexa.link(user);
    for (let i = 0; i < 3; i++) expect((await me(base, tokens.access_token)).status).toBe(200); // cached now

    // The cache is on: revoked behind the server's back (no NOTIFY), the token still passes ...
    await ctx.knex('oauth_access_tokens').update({ revoked_at: new Date() }).whereIn('grant_id', ctx.knex('oauth_grants').select('id').where({ user_id: user.id }));
    expect((await me(base, tokens.access_token)).status).toBe(200);
    // ... until a notification, sent through PgBouncer in a transaction, arrives.
    const viaPooler = new pg.Client({ connectionString: bouncer.url });
    await viaPooler.connect();
    try {
      await viaPooler.query('BEGIN');
      await viaPooler.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, JSON.stringify({ flush: true })]);
      await viaPooler.query('COMMIT');
    } finally {
      await viaPooler.end();
    }
    let status = 200;
    for (let i = 0; i < 50 && status !== 401; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = (await me(base, tokens.access_token)).status;
    }
    expect(status).toBe(401);

    // The revocation endpoint: its answer waits until the listener heard it, so the very next call is refused.
    expect((await alexa.refresh()).status).toBe(200);
    const live = alexa.tokens!.access_token;
    for (let i = 0; i < 3; i++) expect((await me(base, live)).status).toBe(200);
    const revoked = await request(base).post('/oauth/revoke').type('form').auth(alexa.client.clientId, alexa.client.clientSecret).send({ token: live });
    expect(revoked.status).toBe(200);
    expect((await me(base, live)).status).toBe(401);

    // Revoking the refresh token revokes the grant: its cached access token goes with it.
    expect((await alexa.refresh()).status).toBe(200);
    const next = alexa.tokens!;
    for (let i = 0; i < 3; i++) expect((await me(base, next.access_token)).status).toBe(200);
    await request(base).post('/oauth/revoke').type('form').auth(alexa.client.clientId, alexa.client.clientSecret).send({ token: next.refresh_token }).expect(200);
    expect((await me(base, next.access_token)).status).toBe(401);
  });

  describe('with DATABASE_POOLING=session (the default) through the same kind of pooler', () => {
    it('when PgBouncer gets the pool\'s statement_timeout startup parameter, then it refuses the connection and the server does not start', async () => {
      const session = startServerProcess(serverEnv({ DATABASE_URL: bouncer.url, DATABASE_LISTEN_URL: db.url }));
      const failure = (await session.ready.then(
        () => undefined,
        (err: unknown) => err,
      )) as { code?: number; output?: string } | undefined;
      await session.stop();
      expect(failure?.code).toBe(1);
      expect(failure?.output).toMatch(/unsupported startup parameter: statement_timeout/);
    }, 30000);

    it('when PgBouncer ignores that parameter, then the named hot statements fail (the negative that shows this suite tests something)', async () => {
      const lenient = await startPgBouncer({ databaseUrl: db.url, poolSize: POOL_SIZE, ignoreStartupParameters: ['statement_timeout'] });
      const session = startServerProcess(serverEnv({ DATABASE_URL: lenient.url, DATABASE_LISTEN_URL: db.url }));
      try {
        const url = session.url(await session.ready);
        const user = await createUser(ctx);
        const tokens = await freshTokens(ctx, user.id, 24);
        const statuses: number[] = [];
        for (let round = 0; round < 3; round++) statuses.push(...(await Promise.all(tokens.map((t) => me(url, t)))).map((r) => r.status));
        // Each app connection prepares lb_live_access_token on first use; with more of them than the
        // 2 server sessions, two prepare it on the same session ("already exists"), and a connection
        // whose next statement lands on a session without it fails ("does not exist"). More app
        // connections than sessions (each running it first thing) makes a clash unavoidable:
        expect((await connections(lenient, db.name)).clients).toBeGreaterThan(POOL_SIZE);
        expect(statuses.filter((s) => s >= 500).length).toBeGreaterThan(0);
        expect(session.output()).toMatch(/prepared statement \\?"lb_\w+\\?" (already exists|does not exist)/);
      } finally {
        await session.stop();
        await lenient.stop();
      }
    }, 60000);
  });
});
