import request from 'supertest';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { bearerProbeApp } from '../support/bearer-probe';
import { createTestContext, createUser, csrfFrom, signInAs, TestContext, webAgent } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

describe('connected apps page', () => {
  it('when a user has linked Alexa, then the page lists it with its scopes, and Revoke kills the link and its tokens', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const tokens = await alexa.link(user, agent);
    const page = await agent.get('/account/connections');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Recipe Reader for Alexa');
    expect(page.text).toContain('See your profile, your recipes and your bookmarks');
    const action = /action="(\/account\/connections\/\d+\/revoke)"/.exec(page.text)![1];
    const res = await agent.post(action).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(res.status).toBe(303);
    expect((await agent.get('/account/connections')).text).toContain('No apps are connected');
    expect((await request(bearerProbeApp(ctx)).get('/api/probe').set('Authorization', `Bearer ${tokens.access_token}`)).status).toBe(401);
    expect((await alexa.refresh()).body.error).toBe('invalid_grant');
  });

  it("when a user tries to revoke someone else's link, then 404 and the link stays", async () => {
    const owner = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    await alexa.link(owner);
    const grant = await ctx.knex('oauth_grants').where({ user_id: owner.id }).first();
    const intruder = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, intruder.email);
    const page = await agent.get('/account/connections');
    const res = await agent.post(`/account/connections/${grant.id}/revoke`).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(res.status).toBe(404);
    expect((await alexa.refresh()).status).toBe(200);
  });

  it('when a signed-out visitor opens the page, then they are sent to log in', async () => {
    const res = await request(ctx.app).get('/account/connections');
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login\?return_to=/);
  });
});

describe('admin client pages', () => {
  it('when a non-admin opens /admin/clients, then 403', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    expect((await agent.get('/admin/clients')).status).toBe(403);
    const page = await agent.get('/');
    expect((await agent.post('/admin/clients').type('form').send({ _csrf: csrfFrom(page.text), name: 'x', redirect_uris: 'https://a.example/cb' })).status).toBe(403);
  });

  it('when an admin creates, edits, rotates and deletes a client, then each step works and secrets are shown once', async () => {
    const admin = await createUser(ctx, { isAdmin: true });
    const agent = webAgent(ctx.app);
    await signInAs(agent, admin.email);
    const form = await agent.get('/admin/clients/new');
    expect(form.status).toBe(200);
    const created = await agent
      .post('/admin/clients')
      .type('form')
      .send(`_csrf=${encodeURIComponent(csrfFrom(form.text))}&name=Kitchen+Display&redirect_uris=${encodeURIComponent('https://kitchen.example/cb\nhttps://kitchen.example/cb2')}&scopes=read&refresh_rotation=rotate`);
    expect(created.status).toBe(200);
    const clientId = /id="client-id">([^<]+)</.exec(created.text)![1];
    const secret = /id="client-secret">([^<]+)</.exec(created.text)![1];
    const client = (await ctx.services.clients.findByClientId(clientId))!;
    expect(client).toMatchObject({ name: 'Kitchen Display', scopes: ['read'], refreshRotation: 'rotate', redirectUris: ['https://kitchen.example/cb', 'https://kitchen.example/cb2'] });
    expect(client.secretHash).not.toContain(secret);
    expect(await ctx.services.clients.authenticate(clientId, secret)).toBeDefined();

    const list = await agent.get('/admin/clients');
    expect(list.text).toContain(clientId);
    expect(list.text).not.toContain(secret);

    const edit = await agent.get(`/admin/clients/${client.id}`);
    const saved = await agent
      .post(`/admin/clients/${client.id}`)
      .type('form')
      .send(`_csrf=${encodeURIComponent(csrfFrom(edit.text))}&name=Kitchen+Display+2&redirect_uris=${encodeURIComponent('https://kitchen.example/cb')}&scopes=read&scopes=write&refresh_rotation=off&access_token_ttl=7200`);
    expect(saved.status).toBe(303);
    expect(await ctx.services.clients.findById(client.id)).toMatchObject({ name: 'Kitchen Display 2', scopes: ['read', 'write'], refreshRotation: 'off', accessTokenTtl: 7200 });

    const bad = await agent.post(`/admin/clients/${client.id}`).type('form').send({ _csrf: csrfFrom(edit.text), name: 'x', redirect_uris: 'http://not-local.example/cb' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('must use https');

    const rotated = await agent.post(`/admin/clients/${client.id}/rotate-secret`).type('form').send({ _csrf: csrfFrom(edit.text), immediately: 'on' });
    const newSecret = /id="client-secret">([^<]+)</.exec(rotated.text)![1];
    expect(newSecret).not.toBe(secret);
    expect(await ctx.services.clients.authenticate(clientId, secret)).toBeUndefined();
    expect(await ctx.services.clients.authenticate(clientId, newSecret)).toBeDefined();

    const deleted = await agent.post(`/admin/clients/${client.id}/delete`).type('form').send({ _csrf: csrfFrom(edit.text) });
    expect(deleted.status).toBe(303);
    expect(await ctx.services.clients.findById(client.id)).toBeUndefined();
  });
});
