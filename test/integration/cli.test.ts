import bcrypt from 'bcrypt';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cli, FakeTerminal } from '../support/cli';
import { createTestContext, signInAs, TestContext, testDatabaseUrl, uniqueEmail, webAgent } from '../support/context';
import { PROJECT_ROOT } from '../../src/lib/paths';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const tmp = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-cli-'));

describe('cli users', () => {
  it('when users:create runs with --json, then it prints the id and email and the user can log in on the site', async () => {
    const email = uniqueEmail('cli');
    const r = await cli(['users:create', '--email', email, '--password', 'a long password 1', '--name', 'Cli User', '--json']);
    expect(r.code).toBe(0);
    const out = r.json();
    expect(out).toMatchObject({ id: expect.any(Number), email });
    expect((await signInAs(webAgent(ctx.app), email, 'a long password 1')).status).toBe(303);
  });

  it('when users:create gets a bad email or a taken one, then it exits non-zero with a clear message', async () => {
    const bad = await cli(['users:create', '--email', 'nope', '--password', 'a long password 1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('valid email');
    const email = uniqueEmail('dup');
    expect((await cli(['users:create', '--email', email, '--password', 'a long password 1'])).code).toBe(0);
    const dup = await cli(['users:create', '--email', email.toUpperCase(), '--password', 'a long password 1']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already exists');
  });

  it('when an option is missing or unknown, then it prints the usage and exits 2', async () => {
    expect((await cli(['users:create', '--email', uniqueEmail()])).code).toBe(2);
    const unknown = await cli(['users:create', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Usage');
    expect((await cli(['no:such'])).code).toBe(2);
  });

  it('when users:list runs with --json, then it lists users with their flags', async () => {
    const email = uniqueEmail('list');
    await cli(['users:create', '--email', email, '--password', 'a long password 1', '--admin']);
    const r = await cli(['users:list', '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toEqual(expect.arrayContaining([expect.objectContaining({ email, is_admin: true, disabled: false })]));
  });

  it('when users:disable runs, then the user can no longer log in', async () => {
    const email = uniqueEmail('disable');
    await cli(['users:create', '--email', email, '--password', 'a long password 1']);
    const r = await cli(['users:disable', '--email', email, '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ email, disabled: true });
    expect((await signInAs(webAgent(ctx.app), email, 'a long password 1')).status).toBe(400);
    expect((await cli(['users:disable', '--email', uniqueEmail('ghost')])).code).toBe(1);
  });

  it('when users:import reads a CSV of bcrypt users, then they log in with their old passwords', async () => {
    const a = uniqueEmail('csv');
    const b = uniqueEmail('csv');
    const file = path.join(tmp, 'users.csv');
    writeFileSync(file, `email,name,password_hash\n${a},"Smith, Ann",${await bcrypt.hash('devise pw 1', 10)}\n${b},,${await bcrypt.hash('devise pw 2', 11)}\n`);
    const r = await cli(['users:import', file, '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({ imported: 2, skipped: 0 });
    expect((await ctx.services.accounts.findByEmail(a))?.name).toBe('Smith, Ann');
    expect((await signInAs(webAgent(ctx.app), b, 'devise pw 2')).status).toBe(303);
  });

  it('when users:import meets an existing user, then nothing is imported unless --skip-existing', async () => {
    const existing = uniqueEmail('exists');
    const fresh = uniqueEmail('fresh');
    await cli(['users:create', '--email', existing, '--password', 'a long password 1']);
    const file = path.join(tmp, 'users.json');
    const hash = await bcrypt.hash('pw', 10);
    writeFileSync(file, JSON.stringify([{ email: fresh, password_hash: hash }, { email: existing, password_hash: hash }]));
    const refused = await cli(['users:import', file]);
    expect(refused.code).toBe(1);
    expect(await ctx.services.accounts.findByEmail(fresh)).toBeUndefined();
    const skipped = await cli(['users:import', file, '--skip-existing', '--json']);
    expect(skipped.json()).toEqual({ imported: 1, skipped: 1 });
  });

  it('when users:import is given an unreadable or malformed file, then it exits 1', async () => {
    expect((await cli(['users:import', path.join(tmp, 'missing.json')])).code).toBe(1);
    const file = path.join(tmp, 'broken.json');
    writeFileSync(file, '[{"email": ');
    expect((await cli(['users:import', file])).code).toBe(1);
  });
});

describe('cli db', () => {
  it('when db:status runs on a migrated database, then nothing is pending', async () => {
    const r = await cli(['db:status', '--json']);
    expect(r.code).toBe(0);
    expect(r.json().pending).toEqual([]);
    expect(r.json().applied).toContain('20261122_001_users');
  });

  it('when db:migrate runs again, then it is already up to date', async () => {
    const r = await cli(['db:migrate', '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({ applied: [] });
  });
});

describe('cli passwords, never on the command line', () => {
  const signsIn = async (email: string, password: string) => (await signInAs(webAgent(ctx.app), email, password)).status === 303;

  it('when users:create gets --password-stdin, then the first line of standard input is the password, without its line ending, and nothing is printed about it', async () => {
    const email = uniqueEmail('stdin');
    const r = await cli(['users:create', '--email', email, '--password-stdin', '--json'], {}, { stdin: 'piped pass phrase 1\r\nsecond line ignored\n' });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.json()).toMatchObject({ email });
    expect(await signsIn(email, 'piped pass phrase 1')).toBe(true);
    expect(await signsIn(email, 'piped pass phrase 1\r')).toBe(false);
  });

  it('when standard input has no newline at all, then the whole input is the password', async () => {
    const email = uniqueEmail('stdin-eof');
    expect((await cli(['users:create', '--email', email, '--password-stdin'], {}, { stdin: 'no newline here' })).code).toBe(0);
    expect(await signsIn(email, 'no newline here')).toBe(true);
  });

  it('when --password-stdin gets an empty first line or an endless one, then it exits 2 and creates nothing', async () => {
    const email = uniqueEmail('stdin-bad');
    const empty = await cli(['users:create', '--email', email, '--password-stdin'], {}, { stdin: '\nlater line\n' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('first line of standard input is empty');
    const endless = await cli(['users:create', '--email', email, '--password-stdin'], {}, { stdin: 'x'.repeat(100000) });
    expect(endless.code).toBe(2);
    expect(endless.stderr).toContain('longer than');
    expect(await ctx.services.accounts.findByEmail(email)).toBeUndefined();
  });

  it('when LINKBRIDGE_PASSWORD is set, then users:create uses it without a warning', async () => {
    const email = uniqueEmail('env');
    const r = await cli(['users:create', '--email', email], { LINKBRIDGE_PASSWORD: 'from the environment 1' });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(await signsIn(email, 'from the environment 1')).toBe(true);
  });

  it('when --password is given, then it still works but warns on stderr that the password is visible in ps and the shell history', async () => {
    const email = uniqueEmail('argv');
    const r = await cli(['users:create', '--email', email, '--password', 'on the command line 1', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Warning: --password .*\(ps\).*shell history.*--password-stdin.*LINKBRIDGE_PASSWORD/);
    expect(r.json()).toMatchObject({ email }); // stdout stays machine-readable
    expect(await signsIn(email, 'on the command line 1')).toBe(true);
  });

  it('when no password is given and standard input is not a terminal, then it exits 2 naming every safe way and creates nothing', async () => {
    const email = uniqueEmail('none');
    const r = await cli(['users:create', '--email', email]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--password-stdin');
    expect(r.stderr).toContain('LINKBRIDGE_PASSWORD');
    expect(await ctx.services.accounts.findByEmail(email)).toBeUndefined();
    const both = await cli(['users:create', '--email', email, '--password', 'a long password 1', '--password-stdin'], {}, { stdin: 'other 12345\n' });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
    expect(await ctx.services.accounts.findByEmail(email)).toBeUndefined();
  });

  /** A terminal that types one line each time the CLI switches it to raw mode (each prompt). */
  const terminal = (...lines: string[]) => {
    const tty = new FakeTerminal();
    const setRawMode = tty.setRawMode.bind(tty);
    tty.setRawMode = (mode: boolean) => {
      setRawMode(mode);
      const next = mode ? lines.shift() : undefined;
      if (next !== undefined) setImmediate(() => tty.write(next));
      return tty;
    };
    return tty;
  };

  it('when users:create runs in a terminal without a password option, then it asks twice without echoing and restores the terminal', async () => {
    const email = uniqueEmail('tty');
    const tty = terminal('typed secret 1x\u007f\r', 'typed secret 1\r');
    const r = await cli(['users:create', '--email', email, '--json'], {}, { stdin: tty });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('Password: \nRepeat it: \n');
    expect(r.stdout).not.toContain('typed secret');
    expect(tty.rawModes).toEqual([true, false, true, false]);
    expect(await signsIn(email, 'typed secret 1')).toBe(true);
  });

  it('when the two typed passwords differ or the prompt is cancelled with Ctrl-C, then nothing is created', async () => {
    const email = uniqueEmail('tty-bad');
    const differ = await cli(['users:create', '--email', email], {}, { stdin: terminal('first secret 1\r', 'other secret 1\r') });
    expect(differ.code).toBe(2);
    expect(differ.stderr).toContain('the two passwords differ');
    const cancelled = await cli(['users:create', '--email', email], {}, { stdin: terminal('half\u0003') });
    expect(cancelled.code).toBe(1);
    expect(cancelled.stderr).toContain('cancelled');
    expect(await ctx.services.accounts.findByEmail(email)).toBeUndefined();
  });

  it('when db:seed gets --password-stdin or LINKBRIDGE_PASSWORD, then the demo user has that password; in a terminal with neither it does not ask and prints a random one', async () => {
    const a = uniqueEmail('seed-stdin');
    const viaStdin = await cli(['db:seed', '--email', a, '--password-stdin', '--json'], {}, { stdin: 'seeded from stdin 1\n' });
    expect(viaStdin.json()).toMatchObject({ email: a, password: 'seeded from stdin 1', user_created: true });
    const b = uniqueEmail('seed-env');
    const viaEnv = await cli(['db:seed', '--email', b, '--json'], { LINKBRIDGE_PASSWORD: 'seeded from env 1' });
    expect(viaEnv.json()).toMatchObject({ email: b, password: 'seeded from env 1' });
    expect(await signsIn(b, 'seeded from env 1')).toBe(true);
    const tty = terminal();
    const c = uniqueEmail('seed-tty');
    const random = await cli(['db:seed', '--email', c, '--json'], {}, { stdin: tty });
    expect(random.json().password).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(tty.rawModes).toEqual([]);
    const warned = await cli(['db:seed', '--email', uniqueEmail('seed-argv'), '--password', 'seeded on argv 1', '--json']);
    expect(warned.stderr).toContain('Warning: --password');
  });
});

/** script(1) from util-linux gives the CLI a real pseudo-terminal. */
const hasScript = process.platform === 'linux' && spawnSync('script', ['--version']).status === 0;

describe('cli password prompt on a real terminal', () => {
  (hasScript ? it : it.skip)('when users:create runs on a pseudo-terminal, then the typed password is never echoed and the user signs in with it', async () => {
    const email = uniqueEmail('pty');
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(PROJECT_ROOT, 'dist/src/cli.js'))} users:create --email ${email} --json`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH, DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'silent' } });
    let out = '';
    let typed = 0;
    child.stdout.on('data', (d) => {
      out += d;
      // Type only once each prompt is shown: the terminal is in raw mode (no echo) by then.
      for (const prompts = (out.match(/Password: |Repeat it: /g) ?? []).length; typed < prompts; typed++) child.stdin.write('pty pass phrase 1\r');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(out).toContain('Password: ');
    expect(out).toContain('Repeat it: ');
    expect(out).not.toContain('pty pass phrase');
    expect((await signInAs(webAgent(ctx.app), email, 'pty pass phrase 1')).status).toBe(303);
  });
});
