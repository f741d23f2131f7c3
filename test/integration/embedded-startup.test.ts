import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCliProcess as runCli, startServerProcess } from '../support/server-process';

function startServer(dataDir: string) {
  return startServerProcess({ DATA_DIR: dataDir });
}

const runCliProcess = async (dataDir: string, args: string[], stdin?: string) => {
  const r = await runCli({ DATA_DIR: dataDir }, args, { stdin });
  return { code: r.code, out: r.stdout, stderr: r.stderr };
};

describe('embedded start-up', () => {
  const dataDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'linkbridge-start-')), 'data');
  afterAll(() => rmSync(path.dirname(dataDir), { recursive: true, force: true }));

  it('when started with no configuration, then it creates the data folder, serves the login page, lets the CLI add a user who can sign in, refuses a second server, and stops cleanly', async () => {
    const first = startServer(dataDir);
    try {
      const port = await first.ready;
      expect(first.output()).toContain('npm run cli -- users:create');
      expect(first.output()).not.toContain('--password'); // the advice never puts a password in ps or history
      expect(first.output()).toContain('npm run cli -- db:seed'); // offered while there are no users
      expect(existsSync(path.join(dataDir, 'pgdata'))).toBe(true);
      expect(existsSync(path.join(dataDir, 'secrets.json'))).toBe(true);

      const login = await fetch(`http://127.0.0.1:${port}/login`);
      expect(login.status).toBe(200);

      // The CLI works against the running server's embedded database.
      const created = await runCliProcess(dataDir, ['users:create', '--email', 'cook@example.test', '--password-stdin', '--json'], 'a long password 1\n');
      expect(created).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(created.out)).toMatchObject({ email: 'cook@example.test' });

      // ...and that user signs in through the pages.
      const page = await fetch(`http://127.0.0.1:${port}/login`);
      const cookie = page.headers.get('set-cookie')!.split(';')[0];
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1];
      const res = await fetch(`http://127.0.0.1:${port}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, email: 'cook@example.test', password: 'a long password 1' }).toString(),
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/');

      // The demo data the start-up message offers loads through the running server's database too.
      const seeded = await runCliProcess(dataDir, ['db:seed', '--json']);
      expect(seeded.code).toBe(0);
      expect(JSON.parse(seeded.out)).toMatchObject({ email: 'demo@linkbridge.test', recipes_created: 12 });

      // A second server on the same folder is refused by the lock.
      const second = startServer(dataDir);
      const err = (await second.ready.catch((e: unknown) => e)) as { code?: number; output?: string };
      expect(err.code).toBe(1);
      expect(err.output).toContain('in use by another Linkbridge process');
    } finally {
      expect(await first.stop()).toBe(0);
    }
    expect(existsSync(path.join(dataDir, 'embedded.lock'))).toBe(false);

    // With no server running, the CLI opens the folder itself.
    const list = await runCliProcess(dataDir, ['users:list', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.out)).toEqual([expect.objectContaining({ email: 'cook@example.test' }), expect.objectContaining({ email: 'demo@linkbridge.test' })]);
  }, 120000);
});
