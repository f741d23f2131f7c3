import request from 'supertest';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { accountLinkedEvent, alexaUserId, skillDisabledEvent } from '../support/alexa-envelopes';
import { cli } from '../support/cli';
import { LinkEventRepository } from '../../src/oauth/timeline/link-event.repository';
import { createTestContext, createUser, csrfFrom, signInAs, TestContext, webAgent } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext({ LINK_EVENTS_PER_LINK: '30' });
});
afterAll(() => ctx.close());

const WRONG_PASSWORD = 'not-the-password-at-all-1234';

interface Shown {
  links: Array<{ client: { client_id: string }; grants: Array<{ id: number; revoked_at: string | null }>; events: Array<{ type: string; reason: string | null; grant_id: number | null }> }>;
}

/** Alexa's whole flow for one user, as the simulator drives it, with a wrong password first. */
async function alexaLifetime() {
  const user = await createUser(ctx);
  const client = await createAlexaClient(ctx, { rotation: 'rotate' });
  const alexa = new AlexaSimulator(ctx.app, client);
  const agent = webAgent(ctx.app);

  // A wrong password on the way to the consent page.
  const start = await agent.get(alexa.authorizationPath());
  expect(start.status).toBe(302);
  const returnTo = new URL(start.headers.location, 'http://localhost').searchParams.get('return_to')!;
  const failed = await signInAs(agent, user.email, WRONG_PASSWORD, returnTo);
  expect(failed.status).toBe(400);

  const first = await alexa.link(user, agent);
  // The response to this refresh is "lost": Alexa retries with the token it had.
  expect((await alexa.refresh()).status).toBe(200);
  expect((await alexa.refresh(first.refresh_token)).status).toBe(200);

  const alexaUser = { userId: alexaUserId() };
  const events = request(ctx.app).post('/alexa/skill-events').auth(client.clientId, client.clientSecret);
  expect((await events.send(accountLinkedEvent(alexaUser, alexa.tokens!.access_token))).status).toBe(200);
  const disabled = await request(ctx.app).post('/alexa/skill-events').auth(client.clientId, client.clientSecret).send(skillDisabledEvent(alexaUser));
  expect(disabled.body).toEqual({ status: 'revoked', grants_revoked: 1 });
  // Alexa, not told, refreshes once more: refused, and that refusal is on the timeline too.
  expect((await alexa.refresh()).status).toBe(400);
  return { user, client, first };
}

describe('the timeline of a link', () => {
  it("when Alexa links, refreshes, retries a lost refresh and the skill is disabled, then links:show lists every event in order, with who revoked and why the last refresh was refused", async () => {
    const { user, client } = await alexaLifetime();
    await ctx.services.timeline.flush(); // the server's buffered events (written within a second anyway)
    const shown = await cli(['links:show', '--email', user.email, '--client-id', client.clientId, '--json']);
    expect(shown.code).toBe(0);
    const [link] = (shown.json() as Shown).links;
    expect(link.client.client_id).toBe(client.clientId);
    expect(link.events.map((e) => [e.type, e.reason])).toEqual([
      ['sign_in_failed', 'invalid_login'],
      ['sign_in_succeeded', null],
      ['authorization_started', null],
      ['consent_allowed', null],
      ['code_issued', null],
      ['code_redeemed', null],
      ['refreshed', null],
      ['refreshed', 'retry within the grace window'],
      ['skill_event', 'SkillAccountLinked'],
      ['skill_event', 'SkillDisabled'],
      ['revoked', 'by skill event'],
      ['refresh_refused', 'not revoked'],
    ]);
    const grantId = link.grants[0].id;
    expect(link.grants[0].revoked_at).not.toBeNull();
    // From consent on, every event carries the grant; before it, none exists yet.
    expect(link.events.filter((e) => e.grant_id === grantId).map((e) => e.type)[0]).toBe('consent_allowed');
    expect(link.events.filter((e) => ['sign_in_succeeded', 'authorization_started'].includes(e.type)).every((e) => e.grant_id === null)).toBe(true);
  });

  it('when an event is recorded, then nothing typed is kept: no email, password, token or code in any row', async () => {
    const { user, first } = await alexaLifetime();
    const rows = JSON.stringify(await ctx.knex('oauth_link_events').where({ user_id: user.id }));
    for (const secret of [user.email, WRONG_PASSWORD, first.access_token, first.refresh_token, 'lb_ac_', 'lb_at_', 'lb_rt_']) expect(rows).not.toContain(secret);
  });

  it('when an admin looks a link up by email and client, then the page shows its timeline; by client alone, its links', async () => {
    const { user, client } = await alexaLifetime();
    const admin = await createUser(ctx, { isAdmin: true });
    const agent = webAgent(ctx.app);
    await signInAs(agent, admin.email);
    const page = await agent.get('/admin/links').query({ email: user.email, client_id: client.clientId });
    expect(page.status).toBe(200);
    for (const label of ['Refreshed', 'retry within the grace window', 'Revoked', 'by skill event', 'Refresh refused', 'Skill event received', 'SkillDisabled']) {
      expect(page.text).toContain(label);
    }
    // Newest first on the page.
    expect(page.text.indexOf('Refresh refused')).toBeLessThan(page.text.indexOf('Code redeemed'));
    const byClient = await agent.get('/admin/links').query({ client_id: client.clientId });
    expect(byClient.status).toBe(200);
    expect(byClient.text).toContain(user.email);
  });

  it('when an admin searches for an unknown email, a repeated parameter or an overlong one, then a clear 4xx page, never a 500', async () => {
    const admin = await createUser(ctx, { isAdmin: true });
    const agent = webAgent(ctx.app);
    await signInAs(agent, admin.email);
    expect((await agent.get('/admin/links').query({ email: 'nobody@example.test' })).status).toBe(404);
    expect((await agent.get('/admin/links?email=a@example.test&email=b@example.test')).status).toBe(400);
    expect((await agent.get('/admin/links').query({ email: `${'a'.repeat(300)}@example.test` })).status).toBe(400);
    expect((await agent.get('/admin/links').query({ email: admin.email, client_id: 'lbc_unknown' })).status).toBe(404);
  });

  it('when someone who is not an admin opens the links page, then it is refused', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    expect((await agent.get('/admin/links').query({ email: user.email })).status).toBe(403);
    expect((await request(ctx.app).get('/admin/links')).status).toBe(303); // signed out: to the login page
  });

  it('when the user revokes a link on Connected apps, then the timeline says the user revoked it; the page showed when it was linked and last used', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    const client = await createAlexaClient(ctx);
    const alexa = new AlexaSimulator(ctx.app, client);
    await alexa.link(user, agent);
    const page = await agent.get('/account/connections');
    const today = new Date().toISOString().slice(0, 10);
    expect(page.text).toContain(`Linked on ${today}`);
    expect(page.text).toMatch(new RegExp(`last used ${today} \\d\\d:\\d\\d UTC`));
    const grantId = /\/account\/connections\/(\d+)\/revoke/.exec(page.text)![1];
    const revoked = await agent.post(`/account/connections/${grantId}/revoke`).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(revoked.status).toBe(303);
    const { links } = await ctx.services.timeline.show(user.email, client.clientId);
    expect(links[0].events[0]).toMatchObject({ type: 'revoked', reason: 'by user', grantId: Number(grantId) });
  });

  it('when a user is disabled by an admin or a refresh token is reused after rotation, then the timeline names the admin and the replay', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx);
    const alexa = new AlexaSimulator(ctx.app, client);
    await alexa.link(user);
    expect((await cli(['users:disable', '--email', user.email])).code).toBe(0);
    const { links } = await ctx.services.timeline.show(user.email);
    expect(links[0].events[0]).toMatchObject({ type: 'revoked', reason: 'by admin' });

    const other = await createUser(ctx);
    const rotating = new AlexaSimulator(ctx.app, await createAlexaClient(ctx, { rotation: 'rotate' }));
    const tokens = await rotating.link(other);
    expect((await rotating.refresh()).status).toBe(200);
    await ctx.knex('oauth_refresh_tokens').whereNotNull('rotated_at').whereIn('grant_id', ctx.knex('oauth_grants').select('id').where({ user_id: other.id })).update({ rotated_at: new Date(Date.now() - 3600_000) });
    expect((await rotating.refresh(tokens.refresh_token)).status).toBe(400);
    const shown = await ctx.services.timeline.show(other.email);
    expect(shown.links[0].events.slice(0, 2).map((e) => [e.type, e.reason])).toEqual([
      ['revoked', 'by replay'],
      ['refresh_refused', 'within the grace window'],
    ]);
  });

  it('when a code is replayed, then its refusal and the revocation of what it issued are on the timeline', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const location = await alexa.openAndDecide(user);
    const code = location.searchParams.get('code')!;
    expect((await alexa.exchange(code)).status).toBe(200);
    expect((await alexa.exchange(code)).status).toBe(400);
    const { links } = await ctx.services.timeline.show(user.email);
    expect(links[0].events.slice(0, 3).map((e) => [e.type, e.reason])).toEqual([
      ['revoked', 'by replay: the tokens issued from the code'],
      ['code_refused', 'not yet redeemed'],
      ['code_redeemed', null],
    ]);
  });

  it('when the user denies, then the timeline has the denial against the user and client, with no grant', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx);
    const alexa = new AlexaSimulator(ctx.app, client);
    await alexa.openAndDecide(user, 'deny');
    const { links } = await ctx.services.timeline.show(user.email, client.clientId);
    expect(links[0].grants).toEqual([]);
    expect(links[0].events.map((e) => [e.type, e.grantId])).toEqual([
      ['consent_denied', null],
      ['authorization_started', null],
      ['sign_in_succeeded', null],
    ]);
  });

  it('when tokens:cleanup runs, then events older than LINK_EVENTS_MAX_AGE_DAYS are gone and each link keeps only its newest LINK_EVENTS_PER_LINK', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx);
    const alexa = new AlexaSimulator(ctx.app, client);
    await alexa.link(user);
    await ctx.services.timeline.flush();
    const clientRow = await ctx.knex('oauth_clients').where({ client_id: client.clientId }).first();
    const old = new Date(Date.now() - 91 * 24 * 3600 * 1000);
    await ctx.knex('oauth_link_events').insert({ user_id: user.id, client_id: clientRow.id, type: 'refreshed', occurred_at: old });
    // Beyond the bound, written straight to the table (as a long outage of cleanup would leave them).
    await ctx.knex('oauth_link_events').insert(Array.from({ length: 40 }, () => ({ user_id: user.id, client_id: clientRow.id, type: 'refreshed', occurred_at: new Date(Date.now() - 1000) })));
    const result = await ctx.services.cleanup.run();
    // The old one and the oldest beyond the newest 30 (at least: other links in the database count too).
    expect(result.link_events).toBeGreaterThanOrEqual(1 + (5 + 40 - 30));
    const left = await ctx.knex('oauth_link_events').where({ user_id: user.id, client_id: clientRow.id });
    expect(left).toHaveLength(30);
    expect(left.every((e: { occurred_at: Date }) => e.occurred_at > old)).toBe(true);
  });

  it('when Alexa refreshes many times, then the batch writes keep the link within LINK_EVENTS_PER_LINK (plus a slack of a tenth) without cleanup, and it shows the newest 30', async () => {
    const user = await createUser(ctx);
    const client = await createAlexaClient(ctx);
    const alexa = new AlexaSimulator(ctx.app, client);
    await alexa.link(user);
    const clientRow = await ctx.knex('oauth_clients').where({ client_id: client.clientId }).first();
    const rows = () => ctx.knex('oauth_link_events').where({ user_id: user.id, client_id: clientRow.id }).count<{ n: string }[]>({ n: '*' });
    for (let i = 0; i < 80; i++) {
      expect((await alexa.refresh()).status).toBe(200);
      if (i % 7 === 0) {
        await ctx.services.timeline.flush();
        expect(Number((await rows())[0].n)).toBeLessThanOrEqual(30 + 3 - 1);
      }
    }
    await ctx.services.timeline.flush();
    expect(Number((await rows())[0].n)).toBeLessThanOrEqual(30 + 3 - 1);
    const { links } = await ctx.services.timeline.show(user.email);
    expect(links[0].events).toHaveLength(30);
    expect(links[0].events.every((e) => e.type === 'refreshed')).toBe(true);
  });

  it('when one batch holds several events of the same millisecond, then they are listed in the order they happened', async () => {
    const users = [await createUser(ctx), await createUser(ctx), await createUser(ctx)];
    const client = await createAlexaClient(ctx, { rotation: 'off' });
    const clientRow = await ctx.knex('oauth_clients').where({ client_id: client.clientId }).first('id');
    const at = new Date();
    // Interleaved links, so that the statement's joins could reorder the rows of one link.
    const batch = Array.from({ length: 60 }, (_, i) => ({
      userId: users[i % 3].id,
      clientId: Number(clientRow.id),
      grantId: null,
      type: 'refreshed' as const,
      reason: `#${i}`,
      occurredAt: at,
    }));
    const repo = new LinkEventRepository(ctx.knex);
    // The plan a big users table gets (CI's failure): a hash join that hashes the batch, whose
    // buckets give a user's rows back newest first.
    await ctx.knex.transaction(async (trx) => {
      await trx.raw('SET LOCAL enable_nestloop = off');
      await trx.raw('SET LOCAL enable_mergejoin = off');
      expect(await repo.insertMany(batch, trx)).toBe(60);
    });
    for (const user of users) {
      const listed = await repo.listForLink(user.id, Number(clientRow.id), 100);
      const expected = batch.filter((e) => e.userId === user.id).map((e) => e.reason).reverse(); // newest first
      expect(listed.map((e) => e.reason)).toEqual(expected);
    }
  });
});
