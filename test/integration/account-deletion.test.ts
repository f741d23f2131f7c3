import request from 'supertest';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { cli } from '../support/cli';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, WebAgent, webAgent } from '../support/context';
import { TestSmtp } from '../support/smtp';

let smtp: TestSmtp;
let ctx: TestContext;
beforeAll(async () => {
  smtp = await TestSmtp.start();
  ctx = createTestContext(smtp.env());
});
afterAll(async () => {
  await ctx.close();
  await smtp.close();
});

const recipe = (title: string, published: boolean) => ({ title, summary: '', ingredients: ['salt'], steps: ['stir'], minutes: null, servings: null, published });

/** A user with an Alexa link, a private and a published recipe, a bookmark, and a second session. */
async function fullAccount() {
  const user = await createUser(ctx, { name: 'Leaving Soon' });
  const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
  const tokens = await alexa.link(user);
  const mine = await ctx.services.recipes.create(user.id, recipe('Private soup', false));
  const published = await ctx.services.recipes.create(user.id, recipe('Public bread', true));
  const fan = await createUser(ctx);
  await ctx.services.bookmarks.add(fan.id, published.id);
  await ctx.services.bookmarks.add(user.id, published.id);
  const other = webAgent(ctx.app);
  await signInAs(other, user.email);
  return { user, alexa, tokens, mine, published, fan, other };
}

async function signedIn(email: string): Promise<WebAgent> {
  const agent = webAgent(ctx.app);
  expect((await signInAs(agent, email)).status).toBe(303);
  return agent;
}

describe('delete account (web)', () => {
  it('when the user opens the page, then the warning names each connected app and what goes', async () => {
    const { user } = await fullAccount();
    const page = await (await signedIn(user.email)).get('/account/delete');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Recipe Reader for Alexa');
    expect(page.text).toContain('1 private, 1 published');
    expect(page.text).toContain('cannot be undone');
  });

  it('when the password is wrong, then nothing is deleted', async () => {
    const { user, tokens } = await fullAccount();
    const agent = await signedIn(user.email);
    const page = await agent.get('/account/delete');
    const res = await agent.post('/account/delete').type('form').send({ _csrf: csrfFrom(page.text), current_password: 'wrong password' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('That is not your current password.');
    expect(await ctx.services.accounts.findById(user.id)).toBeDefined();
    expect((await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${tokens.access_token}`)).status).toBe(200);
  });

  it('when the password is right, then links, tokens, sessions, bookmarks and recipes go at once, and the address can sign up again', async () => {
    const { user, alexa, tokens, mine, published, fan, other } = await fullAccount();
    const agent = await signedIn(user.email);
    const page = await agent.get('/account/delete');
    const res = await agent.post('/account/delete').type('form').send({ _csrf: csrfFrom(page.text), current_password: TEST_PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/account/deleted');
    expect((await agent.get('/account/deleted')).text).toContain('Your account is deleted');

    // Every token stops at once (the revocation was heard before the answer).
    expect((await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${tokens.access_token}`)).status).toBe(401);
    expect((await alexa.refresh()).status).toBe(400);
    // Every session is gone.
    expect((await other.get('/')).status).toBe(303);
    expect(await ctx.knex('sessions').where({ user_id: user.id })).toEqual([]);
    // Content: private and published recipes, the user's bookmarks, and others' bookmarks of them.
    expect(await ctx.knex('recipes').whereIn('id', [mine.id, published.id])).toEqual([]);
    expect(await ctx.knex('bookmarks').where({ user_id: fan.id })).toEqual([]);
    expect(await ctx.services.accounts.findById(user.id)).toBeUndefined();
    await smtp.waitFor(user.email, /account was deleted/);

    // The address is free again.
    const again = webAgent(ctx.app);
    const signup = await again.get('/signup');
    const created = await again.post('/signup').type('form').send({ _csrf: csrfFrom(signup.text), email: user.email, password: TEST_PASSWORD });
    expect(created.status).toBe(303);
  });

  it('when a cross-site form posts the deletion without the CSRF token, then it is refused', async () => {
    const { user } = await fullAccount();
    const agent = await signedIn(user.email);
    const res = await agent.post('/account/delete').type('form').send({ current_password: TEST_PASSWORD });
    expect(res.status).toBe(403);
    expect(await ctx.services.accounts.findById(user.id)).toBeDefined();
  });
});

describe('users:delete (CLI)', () => {
  it('when not interactive and without --yes, then it refuses and deletes nothing', async () => {
    const user = await createUser(ctx);
    const r = await cli(['users:delete', '--email', user.email], smtp.env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--yes');
    expect(await ctx.services.accounts.findById(user.id)).toBeDefined();
  });

  it('when given --yes, then it deletes without a password, revokes the links and reports it as JSON', async () => {
    const { user, tokens } = await fullAccount();
    const r = await cli(['users:delete', '--email', user.email.toUpperCase(), '--yes', '--json'], smtp.env());
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({ id: user.id, email: user.email, deleted: true, revoked_grants: 1, sessions: 2, bookmarks: 1, private_recipes: 1, published_recipes: 1 });
    expect((await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${tokens.access_token}`)).status).toBe(401);
    expect(await ctx.services.accounts.findById(user.id)).toBeUndefined();
    await smtp.waitFor(user.email, /account was deleted/);
  });

  it('when the email is unknown, then it says so', async () => {
    const r = await cli(['users:delete', '--email', 'nobody-here@example.test', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('No user with email');
  });
});
