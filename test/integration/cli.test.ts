import bcrypt from 'bcrypt';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cli } from '../support/cli';
import { browser, createTestContext, signInAs, TestContext, uniqueEmail } from '../support/context';

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
    expect((await signInAs(browser(ctx.app), email, 'a long password 1')).status).toBe(303);
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
    expect((await signInAs(browser(ctx.app), email, 'a long password 1')).status).toBe(400);
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
    expect((await signInAs(browser(ctx.app), b, 'devise pw 2')).status).toBe(303);
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
