import request from 'supertest';
import { AlexaSimulator, createAlexaClient, REGIONS } from '../support/alexa';
import { createTestContext, createUser, signInAs, TestContext, webAgent } from '../support/context';
import { bearerProbeApp } from '../support/bearer-probe';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

describe('the flow Alexa performs', () => {
  it.each(REGIONS)('when a user links from the %s region with Basic auth, then the tokens work, refresh works, and a revoked link stops them', async (region) => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx), { region });
    const tokens = await alexa.link(user);
    expect(tokens).toEqual({
      access_token: expect.stringMatching(/^lb_at_[A-Za-z0-9_-]{43}$/),
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: expect.stringMatching(/^lb_rt_[A-Za-z0-9_-]{43}$/),
      scope: 'read write',
    });
    const api = bearerProbeApp(ctx);
    const me = await request(api).get('/api/probe').set('Authorization', `Bearer ${tokens.access_token}`);
    expect(me.status).toBe(200);
    expect(me.body.userId).toBe(user.id);

    const refreshed = await alexa.refresh();
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.expires_in).toBe(3600);
    expect(Number.isInteger(refreshed.body.expires_in)).toBe(true);
    expect((await request(api).get('/api/probe').set('Authorization', `Bearer ${refreshed.body.access_token}`)).status).toBe(200);

    const revoke = await request(ctx.app).post('/oauth/revoke').type('form').auth(alexa.client.clientId, alexa.client.clientSecret).send({ token: alexa.tokens!.refresh_token });
    expect(revoke.status).toBe(200);
    expect((await request(api).get('/api/probe').set('Authorization', `Bearer ${refreshed.body.access_token}`)).status).toBe(401);
    expect((await alexa.refresh()).body.error).toBe('invalid_grant');
  });

  it('when the skill uses body client authentication and PKCE, then linking works the same', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx, { requirePkce: true }), { auth: 'body', pkce: true });
    const tokens = await alexa.link(user);
    expect(tokens.token_type).toBe('Bearer');
    expect((await alexa.refresh()).status).toBe(200);
  });

  it('when the long state contains =, + and /, then it comes back byte for byte, correctly encoded', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    expect(alexa.state.length).toBeGreaterThan(600);
    expect(alexa.state).toMatch(/[=+/]/);
    const location = await alexa.openAndDecide(user);
    expect(location.searchParams.get('state')).toBe(alexa.state);
    // A `+` is sent as %2B, never as a bare + that a decoder would turn into a space.
    expect(location.search).not.toMatch(/state=[^&]*\+/);
  });

  it('when the user denies, then Alexa gets access_denied with the state', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const location = await alexa.openAndDecide(user, 'deny');
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('state')).toBe(alexa.state);
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('when Alexa retries a refresh with the token it already used (off policy), then it still works', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const first = await alexa.link(user);
    const a = await alexa.refresh(first.refresh_token);
    const b = await alexa.refresh(first.refresh_token); // the response to `a` was "lost"
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.body.refresh_token).toBe(first.refresh_token);
  });

  it('when Alexa sends two refreshes at once under rotation, then both succeed and the link stays', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx, { rotation: 'rotate' }));
    const first = await alexa.link(user);
    const [a, b] = await Promise.all([alexa.refresh(first.refresh_token), alexa.refresh(first.refresh_token)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.refresh_token).not.toBe(first.refresh_token);
    // A retry with the previous token inside the grace window works too, and so do the new ones.
    expect((await alexa.refresh(first.refresh_token)).status).toBe(200);
    expect((await alexa.refresh(a.body.refresh_token)).status).toBe(200);
    expect((await alexa.refresh(b.body.refresh_token)).status).toBe(200);
  });

  it('when the user logs out of the website, then Alexa can still refresh (refresh never depends on a browser session)', async () => {
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    await alexa.link(user, agent);
    const home = await agent.get('/');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(home.text)![1];
    await agent.post('/logout').type('form').send({ _csrf: csrf });
    expect((await alexa.refresh()).status).toBe(200);
  });
});
