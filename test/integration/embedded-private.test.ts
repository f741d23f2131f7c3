import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEST_ENCRYPTION_KEY, TEST_SESSION_SECRET } from '../support/context';
import { canSwitchUser, entriesOpenToOthers, listeningTcpPorts, probeAsOtherUser } from '../support/local-access';
import { runCliProcess, startServerProcess } from '../support/server-process';

/**
 * Security review, issue 12, finding 1: other accounts on the machine are attackers too. The
 * embedded database authenticates nobody, so only the owner may reach its socket, and nothing
 * in the data folder may be readable by anyone else. Real server and CLI processes.
 */
describe('embedded database, reachable only by its owner', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-private-'));
  const dataDir = path.join(root, 'data');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const loosen = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    chmodSync(p, st.isDirectory() ? 0o755 : 0o666);
    if (st.isDirectory()) for (const name of readdirSync(p)) loosen(path.join(p, name));
  };

  it('when the server creates a new data folder, then no file or folder in it is open to group or others, the database listens on no TCP port, and the CLI reaches it through the socket', async () => {
    const server = startServerProcess({ DATA_DIR: dataDir });
    try {
      const port = await server.ready;
      expect(entriesOpenToOthers(dataDir)).toEqual([]);
      expect(lstatSync(dataDir).mode & 0o777).toBe(0o700);
      expect(lstatSync(path.join(dataDir, 'secrets.json')).mode & 0o777).toBe(0o600);

      // The database's only door is a Unix socket inside the private folder, not a TCP port.
      if (process.platform === 'linux') expect(listeningTcpPorts(server.child.pid!)).toEqual([port]);
      const published = JSON.parse(readFileSync(path.join(dataDir, 'embedded.json'), 'utf8'));
      expect(published).toEqual({ pid: server.child.pid, socketDir: path.join(dataDir, 'run') });
      expect(lstatSync(path.join(dataDir, 'run', '.s.PGSQL.5432')).isSocket()).toBe(true);

      // The CLI finds the running server's socket.
      const seeded = await runCliProcess({ DATA_DIR: dataDir }, ['db:seed', '--json']);
      expect(seeded).toMatchObject({ code: 0 });
      expect(JSON.parse(seeded.stdout)).toMatchObject({ email: 'demo@linkbridge.test', user_created: true });
      const listed = await runCliProcess({ DATA_DIR: dataDir }, ['users:list', '--json']);
      expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ email: 'demo@linkbridge.test' })]);

      // Still private after the database has written (WAL, new relations) and the CLI has run.
      expect(entriesOpenToOthers(dataDir)).toEqual([]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(entriesOpenToOthers(dataDir)).toEqual([]);
  }, 120000);

  (canSwitchUser ? it : it.skip)('when another OS user tries the database socket, every TCP port of the server and the secrets, then each is refused', async () => {
    const server = startServerProcess({ DATA_DIR: dataDir });
    try {
      const port = await server.ready;
      const socket = path.join(dataDir, 'run', '.s.PGSQL.5432');
      const files = [path.join(dataDir, 'secrets.json'), path.join(dataDir, 'embedded.json'), path.join(dataDir, 'pgdata', 'PG_VERSION')];
      const tcpPorts = process.platform === 'linux' ? listeningTcpPorts(server.child.pid!) : [port];
      const seen = await probeAsOtherUser({ files, socket, tcpPorts });
      expect(seen.files).toEqual(Object.fromEntries(files.map((f) => [f, 'EACCES'])));
      expect(seen.socket).toBe('EACCES');
      expect(Object.values(seen.tcp)).not.toContain('authenticated');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60000);

  it('when a data folder from an older version is open to everyone, then the next start makes every file and folder private again', async () => {
    loosen(dataDir);
    expect(entriesOpenToOthers(dataDir).length).toBeGreaterThan(100);
    const server = startServerProcess({ DATA_DIR: dataDir });
    try {
      await server.ready;
      expect(entriesOpenToOthers(dataDir)).toEqual([]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    // The CLI opening the folder itself (no server running) fixes it too.
    loosen(dataDir);
    const listed = await runCliProcess({ DATA_DIR: dataDir }, ['users:list', '--json']);
    expect(listed.code).toBe(0);
    expect(entriesOpenToOthers(dataDir)).toEqual([]);
  }, 60000);

  it('when production starts without DATABASE_URL, then it refuses with a message naming DATABASE_URL and the opt-in, and with ALLOW_EMBEDDED_DATABASE=1 it runs', async () => {
    const production = { NODE_ENV: 'production', SESSION_SECRET: TEST_SESSION_SECRET, PUBLIC_URL: 'https://auth.example.com', ENCRYPTION_KEYS: TEST_ENCRYPTION_KEY, DATA_DIR: dataDir };
    const refused = startServerProcess(production);
    const err = (await refused.ready.catch((e: unknown) => e)) as { code?: number; output?: string };
    expect(err.code).toBe(1);
    expect(err.output).toContain('DATABASE_URL: required when NODE_ENV=production');
    expect(err.output).toContain('ALLOW_EMBEDDED_DATABASE=1');
    expect(err.output).not.toMatch(/\n\s+at /); // no stack trace

    const allowed = startServerProcess({ ...production, ALLOW_EMBEDDED_DATABASE: '1' });
    try {
      const port = await allowed.ready;
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      expect(await allowed.stop()).toBe(0);
    }
  }, 60000);
});
