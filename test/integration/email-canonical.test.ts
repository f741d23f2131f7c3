import bcrypt from 'bcrypt';
import { Knex } from 'knex';
import * as usersMigration from '../../migrations/20261122_001_users';
import * as canonicalMigration from '../../migrations/20261201_006_users_email_canonical';
import { CanonicalEmailCollisionError } from '../../migrations/20261201_006_users_email_canonical';
import { canonicalEmail } from '../../src/auth/email';
import { cli } from '../support/cli';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, uniqueEmail, webAgent } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const fullwidth = (s: string) => s.replace(/[!-~]/g, (ch) => String.fromCodePoint(ch.codePointAt(0)! + 0xfee0));

/** Spellings a person (or an attacker) can type that must all reach `email`'s one account. */
const sameAccountSpellings = (email: string) => [
  `  ${email}\t`,
  email.toUpperCase(),
  fullwidth(email),
  email.replace('@', '\u200b@').replace('.', '\u00ad.'), // zero-width space, soft hyphen
  email.replace(/ss/g, 'ß'),
];

describe('one canonical form per email address', () => {
  it('when an address is spelled with spaces, another case, fullwidth letters, invisible characters or ß, then every spelling counts against the same account throttle', async () => {
    const c = createTestContext({ LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '5' });
    try {
      const user = await createUser(c, { email: uniqueEmail('strasse') });
      for (const spelling of sameAccountSpellings(user.email)) {
        expect((await signInAs(webAgent(c.app), spelling, 'wrong password')).status).toBe(400);
      }
      // Five failures under five spellings: the sixth attempt, with the right password, is refused.
      const blocked = await signInAs(webAgent(c.app), user.email, TEST_PASSWORD);
      expect(blocked.status).toBe(429);
    } finally {
      await c.close();
    }
  });

  it('when an address is spelled with fullwidth letters, invisible characters or ß, then the right password signs in to that one account', async () => {
    const user = await createUser(ctx, { email: uniqueEmail('strasse') });
    for (const spelling of sameAccountSpellings(user.email)) {
      const agent = webAgent(ctx.app);
      expect((await signInAs(agent, spelling)).status).toBe(303);
      expect((await agent.get('/')).text).toContain(user.name);
    }
  });

  it("when 'i' is replaced by U+0130 'İ' (which SQL lower() may map to 'i'), then it does not sign in as the 'i' account", async () => {
    const email = uniqueEmail('tim');
    await createUser(ctx, { email });
    const dotted = email.replace('tim', 't\u0130m');
    expect(canonicalEmail(dotted)).not.toBe(canonicalEmail(email));
    const res = await signInAs(webAgent(ctx.app), dotted);
    expect(res.status).toBe(400);
    expect(res.text).toContain('Incorrect email or password.');
  });

  it('when an account exists, then sign-up under another spelling of it is refused as taken, and a non-ASCII spelling is refused as invalid', async () => {
    const email = uniqueEmail('taken');
    await createUser(ctx, { email });
    const agent = webAgent(ctx.app);
    for (const [spelling, message] of [
      [`  ${email.toUpperCase()} `, 'already exists'],
      [fullwidth(email), 'valid email'],
      [email.replace('@', '\u200b@'), 'valid email'],
    ]) {
      const page = await agent.get('/signup');
      const res = await agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), email: spelling, password: TEST_PASSWORD });
      expect(res.status).toBe(400);
      expect(res.text).toContain(message);
    }
    const [{ count }] = await ctx.knex('users').where({ email_canonical: canonicalEmail(email) }).count<Array<{ count: string | number }>>({ count: '*' });
    expect(Number(count)).toBe(1);
  });

  it('when an account is stored, then its canonical form is in users.email_canonical and the display address is kept as typed', async () => {
    const email = uniqueEmail('Display.Case');
    await createUser(ctx, { email: `  ${email} ` });
    const row = await ctx.knex('users').where({ email_canonical: canonicalEmail(email) }).first();
    expect(row).toMatchObject({ email, email_canonical: email.toLowerCase() });
  });

  it('when users:disable and users:import get another spelling of an existing address, then they act on (or refuse because of) that same account', async () => {
    const email = uniqueEmail('cli-canon');
    await createUser(ctx, { email });
    const disabled = await cli(['users:disable', '--email', ` ${fullwidth(email)} `, '--json']);
    expect(disabled.code).toBe(0);
    expect(disabled.json()).toMatchObject({ email, disabled: true });

    const fresh = uniqueEmail('import-canon');
    const hash = await bcrypt.hash('imported password', 10);
    await expect(
      ctx.services.auth.importUsers([
        { email: fresh, password_hash: hash },
        { email: fresh.toUpperCase(), password_hash: hash },
      ]),
    ).rejects.toThrow(/appears twice/);
    await expect(ctx.services.auth.importUsers([{ email: email.toUpperCase(), password_hash: hash }])).rejects.toThrow(/already has an account/);
  });
});

describe('the email_canonical migration', () => {
  /** Runs migrations against a throwaway schema inside a transaction that is always rolled back. */
  async function inScratchSchema(fn: (trx: Knex.Transaction) => Promise<void>) {
    const schema = `scratch_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`;
    const trx = await ctx.knex.transaction();
    try {
      await trx.raw(`CREATE SCHEMA ${schema}`);
      await trx.raw(`SET LOCAL search_path TO ${schema}`);
      await usersMigration.up(trx);
      await fn(trx);
    } finally {
      await trx.rollback();
    }
  }

  it('when existing users are migrated, then each gets the canonical form of its address and the column is unique', async () => {
    await inScratchSchema(async (trx) => {
      await trx('users').insert([
        { email: 'Ann@Example.COM', password_hash: 'x' },
        { email: 'bob@example.com', password_hash: 'x' },
      ]);
      await canonicalMigration.up(trx);
      const rows = await trx('users').orderBy('id').select('email', 'email_canonical');
      expect(rows).toEqual([
        { email: 'Ann@Example.COM', email_canonical: 'ann@example.com' },
        { email: 'bob@example.com', email_canonical: 'bob@example.com' },
      ]);
      await trx.raw('SAVEPOINT dup');
      await expect(trx('users').insert({ email: 'ANN@example.com', email_canonical: 'ann@example.com', password_hash: 'x' })).rejects.toMatchObject({ code: '23505' });
      await trx.raw('ROLLBACK TO SAVEPOINT dup');
    });
  });

  it('when two existing users have addresses with the same canonical form, then the migration fails naming both and changes nothing', async () => {
    await inScratchSchema(async (trx) => {
      // lower() keeps these apart, so the old unique index allowed both.
      await trx('users').insert([
        { email: 'strasse@example.com', password_hash: 'x' },
        { email: 'STRAßE@example.com', password_hash: 'x' },
        { email: 'solo@example.com', password_hash: 'x' },
      ]);
      await trx.raw('SAVEPOINT before');
      const err = await canonicalMigration.up(trx).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CanonicalEmailCollisionError);
      expect((err as Error).message).toMatch(/strasse@example\.com: #\d+ <strasse@example\.com>, #\d+ <STRAßE@example\.com>/);
      expect((err as Error).message).not.toContain('solo@');
      // Knex runs each migration in a transaction: what the failed run did is rolled back.
      await trx.raw('ROLLBACK TO SAVEPOINT before');
      const columns = await trx('information_schema.columns').where({ table_name: 'users', column_name: 'email_canonical' }).whereRaw('table_schema = current_schema()');
      expect(columns).toEqual([]);
    });
  });
});
