import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { findBinary } from './find-binary';

/**
 * A PgBouncer process of our own (Debian's /usr/sbin/pgbouncer, 1.18 here) on a free loopback
 * port, in front of one PostgreSQL database. Plain functions, no test framework: the tests and the
 * benchmark both use it. It never touches a system pgbouncer (Debian's package may run one on
 * 6432): its own ini, auth file and port, in a temporary folder removed on stop.
 *
 * `max_prepared_statements` is left unset on purpose: 1.18 has no prepared-statement tracking, and
 * that is the behaviour the server must survive in transaction mode.
 */

export const NO_PGBOUNCER = 'no pgbouncer found (set PGBOUNCER_PATH, or install the `pgbouncer` package: apt-get install -y pgbouncer)';

export interface PgBouncerOptions {
  /** The database behind it: postgres://user[:password]@host:port/dbname (PostgreSQL itself). */
  databaseUrl: string;
  /** PgBouncer's pool_mode (default `transaction`). */
  poolMode?: 'transaction' | 'session';
  /** Server connections per database and user (default 2): fewer than the app's pool, so its connections share them. */
  poolSize?: number;
  /** Startup parameters PgBouncer drops instead of refusing the connection (default none). */
  ignoreStartupParameters?: string[];
  /** The binary (default: PGBOUNCER_PATH, /usr/sbin/pgbouncer, or pgbouncer on PATH). */
  bin?: string;
}

export interface PgBouncer {
  /** The same database, through PgBouncer. */
  readonly url: string;
  /** PgBouncer's admin console (SHOW POOLS, SHOW SERVERS, ...: simple queries only). */
  readonly adminUrl: string;
  readonly port: number;
  /** What PgBouncer logged so far. */
  output(): string;
  stop(): Promise<void>;
}

/** PGBOUNCER_PATH (and nothing else when it is set), else /usr/sbin/pgbouncer, else `pgbouncer` on PATH. */
export function findPgBouncer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return findBinary('PGBOUNCER_PATH', '/usr/sbin/pgbouncer', 'pgbouncer', env);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** ini values are quoted only where PgBouncer's [databases] syntax needs it. */
const connstrValue = (v: string) => (/^[A-Za-z0-9_.\/-]+$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);

/** Starts PgBouncer and resolves once it accepts connections; rejects with its output if it exits first. */
export async function startPgBouncer(opts: PgBouncerOptions): Promise<PgBouncer> {
  const bin = opts.bin ?? findPgBouncer();
  if (!bin) throw new Error(NO_PGBOUNCER);
  const target = new URL(opts.databaseUrl);
  const user = decodeURIComponent(target.username || 'postgres');
  const password = decodeURIComponent(target.password);
  const dbname = decodeURIComponent(target.pathname.slice(1)) || user;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-pgbouncer-'));
  // PgBouncer refuses to run as root; its `user` setting drops to another account after start.
  const asUser = process.getuid?.() === 0 ? 'postgres' : undefined;

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const ini = [
      '[databases]',
      `${connstrValue(dbname)} = ${[
        `host=${connstrValue(target.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1')}`,
        `port=${target.port || '5432'}`,
        `dbname=${connstrValue(dbname)}`,
        `user=${connstrValue(user)}`,
        ...(password ? [`password=${connstrValue(password)}`] : []),
      ].join(' ')}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      // Clients are the tests on loopback; PgBouncer authenticates to PostgreSQL with the URL's credentials.
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      `admin_users = ${user}`,
      `pool_mode = ${opts.poolMode ?? 'transaction'}`,
      `default_pool_size = ${opts.poolSize ?? 2}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 500',
      ...(opts.ignoreStartupParameters?.length ? [`ignore_startup_parameters = ${opts.ignoreStartupParameters.join(',')}`] : []),
      ...(asUser ? [`user = ${asUser}`] : []),
      '',
    ].join('\n');
    writeFileSync(path.join(dir, 'pgbouncer.ini'), ini, { mode: 0o600 });
    writeFileSync(path.join(dir, 'users.txt'), `"${user.replace(/"/g, '""')}" "${password.replace(/"/g, '""')}"\n`, { mode: 0o600 });
    if (asUser) {
      const uid = Number(execFileSync('id', ['-u', asUser]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', asUser]).toString().trim());
      for (const f of ['', 'pgbouncer.ini', 'users.txt']) chownSync(path.join(dir, f), uid, gid);
    }

    const child = spawn(bin, [path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitUntilListening(child, port, () => output);
    } catch (err) {
      lastError = err;
      child.kill('SIGKILL');
      await exited;
      if (/Address already in use/i.test(output)) continue; // the free port was taken meanwhile
      break;
    }
    const base = `postgres://${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@127.0.0.1:${port}`;
    return {
      url: `${base}/${encodeURIComponent(dbname)}`,
      adminUrl: `${base}/pgbouncer`,
      port,
      output: () => output,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM'); // PgBouncer: immediate shutdown
          const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(killer);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

async function waitUntilListening(child: ChildProcess, port: number, output: () => string): Promise<void> {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`pgbouncer exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pgbouncer did not listen on 127.0.0.1:${port} within 10 s:\n${output()}`);
}

/** Rows of a PgBouncer admin console command (SHOW POOLS, SHOW SERVERS, SHOW CLIENTS). */
export async function pgBouncerShow(bouncer: PgBouncer, what: 'POOLS' | 'SERVERS' | 'CLIENTS' | 'STATS'): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: bouncer.adminUrl });
  await client.connect();
  try {
    return (await client.query(`SHOW ${what}`)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A database of its own on the PostgreSQL server at `serverUrl` (unique name), and the one thing
 * that drops it: only ever that database (the server is shared).
 */
export async function createThrowawayDatabase(serverUrl: string, prefix = 'linkbridge_pgbouncer'): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
