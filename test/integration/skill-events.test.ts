import request from 'supertest';
import { AlexaClient, AlexaSimulator, createAlexaClient } from '../support/alexa';
import { accountLinkedEvent, alexaUserId, skillDisabledEvent, skillEventEnvelope } from '../support/alexa-envelopes';
import { createTestContext, createUser, signInAs, TestContext, WebAgent, webAgent } from '../support/context';
import { grantParts } from '../support/grant-fixtures';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const PATH = '/alexa/skill-events';

function postEvent(client: AlexaClient | undefined, event: unknown) {
  const req = request(ctx.app).post(PATH);
  return (client ? req.auth(client.clientId, client.clientSecret) : req).send(event as object);
}

/** A user linked through the real flow, signed in on the website, with the Alexa client and tokens. */
async function linkedUser() {
  const user = await createUser(ctx);
  const agent = webAgent(ctx.app);
  await signInAs(agent, user.email);
  const client = await createAlexaClient(ctx);
  const alexa = new AlexaSimulator(ctx.app, client);
  const tokens = await alexa.link(user, agent);
  const grant = (await ctx.knex('oauth_grants').where({ user_id: user.id }).first())!;
  return { user, agent, client, alexa, tokens, grantId: Number(grant.id), alexaUser: { userId: alexaUserId() } };
}

const grantRow = (id: number) => ctx.knex('oauth_grants').where({ id }).first();
const connectionsPage = async (agent: WebAgent) => (await agent.get('/account/connections')).text;

describe('POST /alexa/skill-events: SkillAccountLinked', () => {
  it('when the Alexa client forwards SkillAccountLinked, then the userId is recorded and the connected-apps page shows the confirmation', async () => {
    const { agent, client, tokens, grantId, alexaUser } = await linkedUser();
    expect(await connectionsPage(agent)).not.toContain('confirmed by Alexa');

    const res = await postEvent(client, accountLinkedEvent(alexaUser, tokens.access_token));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'recorded' });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['set-cookie']).toBeUndefined();

    const grant = await grantRow(grantId);
    expect(grant.alexa_user_id).toBe(alexaUser.userId);
    expect(grant.alexa_linked_at).toBeInstanceOf(Date);
    expect(await connectionsPage(agent)).toMatch(/confirmed by Alexa \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
  });

  it('when the same event is replayed, then it answers the same and the first confirmation time stays', async () => {
    const { client, tokens, grantId, alexaUser } = await linkedUser();
    const event = accountLinkedEvent(alexaUser, tokens.access_token);
    expect((await postEvent(client, event)).status).toBe(200);
    const first = await grantRow(grantId);
    const replay = await postEvent(client, event);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ status: 'recorded' });
    const after = await grantRow(grantId);
    expect(after.alexa_user_id).toBe(alexaUser.userId);
    expect(after.alexa_linked_at.getTime()).toBe(first.alexa_linked_at.getTime());
  });

  it("when another client forwards the event with this client's token, then nothing is recorded (400 invalid_token)", async () => {
    const { tokens, grantId, alexaUser } = await linkedUser();
    const other = await createAlexaClient(ctx);
    const res = await postEvent(other, accountLinkedEvent(alexaUser, tokens.access_token));
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_token');
    expect((await grantRow(grantId)).alexa_user_id).toBeNull();
  });

  it('when the token is unknown, not an access token, or revoked, then nothing is recorded (400 invalid_token)', async () => {
    const { client, alexa, tokens, grantId, alexaUser } = await linkedUser();
    for (const token of ['lb_at_unknown-token', tokens.refresh_token, 'not-a-token']) {
      const res = await postEvent(client, accountLinkedEvent(alexaUser, token));
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_token');
    }
    await request(ctx.app).post('/oauth/revoke').type('form').auth(client.clientId, client.clientSecret).send({ token: alexa.tokens!.refresh_token });
    const revoked = await postEvent(client, accountLinkedEvent(alexaUser, tokens.access_token));
    expect(revoked.status).toBe(400);
    expect((await grantRow(grantId)).alexa_user_id).toBeNull();
  });
});

describe('POST /alexa/skill-events: SkillDisabled', () => {
  it('when the skill is disabled, then the recorded link is revoked: API 401, refresh invalid_grant, gone from connected apps; a replay is harmless', async () => {
    const { agent, client, alexa, tokens, grantId, alexaUser } = await linkedUser();
    await postEvent(client, accountLinkedEvent(alexaUser, tokens.access_token));
    expect((await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${tokens.access_token}`)).status).toBe(200);
    expect(await connectionsPage(agent)).toContain('Recipe Reader for Alexa');

    const res = await postEvent(client, skillDisabledEvent(alexaUser));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'revoked', grants_revoked: 1 });

    expect((await grantRow(grantId)).revoked_at).toBeInstanceOf(Date);
    const api = await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${tokens.access_token}`);
    expect(api.status).toBe(401);
    expect(api.body.error).toBe('invalid_token');
    const refresh = await alexa.refresh(tokens.refresh_token);
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
    const page = await connectionsPage(agent);
    expect(page).not.toContain('Recipe Reader for Alexa');
    expect(page).toContain('No apps are connected');

    const replay = await postEvent(client, skillDisabledEvent(alexaUser));
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ status: 'revoked', grants_revoked: 0 });
  });

  it("when another client sends SkillDisabled for the same userId, then this client's link stays", async () => {
    const { client, tokens, grantId, alexaUser } = await linkedUser();
    await postEvent(client, accountLinkedEvent(alexaUser, tokens.access_token));
    const other = await createAlexaClient(ctx);
    const res = await postEvent(other, skillDisabledEvent(alexaUser));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'revoked', grants_revoked: 0 });
    expect((await grantRow(grantId)).revoked_at).toBeNull();
    expect((await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${tokens.access_token}`)).status).toBe(200);
  });

  it('when no link was recorded for the userId, then nothing is revoked', async () => {
    const { client, tokens, grantId } = await linkedUser();
    const res = await postEvent(client, skillDisabledEvent({ userId: alexaUserId() }));
    expect(res.body).toEqual({ status: 'revoked', grants_revoked: 0 });
    expect((await grantRow(grantId)).revoked_at).toBeNull();
    expect((await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${tokens.access_token}`)).status).toBe(200);
  });
});

describe('POST /alexa/skill-events: the envelope and the caller', () => {
  it.each(['AlexaSkillEvent.SkillEnabled', 'AlexaSkillEvent.SkillPermissionAccepted', 'AlexaSkillEvent.SkillPermissionChanged', 'LaunchRequest'])(
    'when the event type is %s, then it is acknowledged and ignored',
    async (type) => {
      const { client } = await linkedUser();
      const res = await postEvent(client, skillEventEnvelope(type, { userId: alexaUserId() }, { acceptedPermissions: [] }));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ignored' });
    },
  );

  it('when the caller does not authenticate as a client, then 401 invalid_client with a Basic challenge', async () => {
    const { client, tokens, grantId, alexaUser } = await linkedUser();
    const event = accountLinkedEvent(alexaUser, tokens.access_token);
    const attempts = [
      request(ctx.app).post(PATH).send(event),
      request(ctx.app).post(PATH).auth(client.clientId, 'lb_cs_wrong').send(event),
      request(ctx.app).post(PATH).auth('lbc_unknown', client.clientSecret).send(event),
      request(ctx.app).post(PATH).set('Authorization', `Bearer ${tokens.access_token}`).send(event),
      // Credentials inside a JSON body are not a client authentication method.
      request(ctx.app).post(PATH).send({ ...event, client_id: client.clientId, client_secret: client.clientSecret }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    }
    expect((await grantRow(grantId)).alexa_user_id).toBeNull();
  });

  it("when a public client posts SkillDisabled with only its client_id, then 401 invalid_client and the user's link stays", async () => {
    const user = await createUser(ctx);
    const { client } = await ctx.services.clients.create({ name: 'Public skill', redirectUris: ['https://app.example/cb'], isPublic: true });
    const grant = await ctx.knex.transaction((trx) => grantParts(ctx).grants.upsertLive(trx, user.id, client.id, ['read']));
    const alexaUser = { userId: alexaUserId() };
    await ctx.knex('oauth_grants').where({ id: grant.id }).update({ alexa_user_id: alexaUser.userId });
    const attempts = [
      request(ctx.app).post(PATH).auth(client.clientId, '').send(skillDisabledEvent(alexaUser)),
      request(ctx.app).post(PATH).set('Authorization', `Basic ${Buffer.from(`${client.clientId}:`).toString('base64')}`).send(skillDisabledEvent(alexaUser)),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
    }
    expect((await grantRow(grant.id)).revoked_at).toBeNull();
  });

  it('when the body is not an Alexa event envelope, then 400 invalid_request naming what is wrong', async () => {
    const { client, tokens } = await linkedUser();
    const userId = alexaUserId();
    const linked = accountLinkedEvent({ userId }, tokens.access_token) as { request: Record<string, unknown> };
    const cases: Array<[unknown, string | undefined]> = [
      [{}, 'context'],
      [[], undefined],
      [{ version: '1.0', context: { System: { user: {} } }, request: { type: 'AlexaSkillEvent.SkillDisabled' } }, 'context.System.user.userId'],
      [skillEventEnvelope('AlexaSkillEvent.SkillDisabled', { userId: 'x'.repeat(513) }), 'context.System.user.userId'],
      [skillEventEnvelope('AlexaSkillEvent.SkillDisabled', { userId: 'has spaces in it' }), 'context.System.user.userId'],
      [skillEventEnvelope('AlexaSkillEvent.SkillAccountLinked', { userId }), 'request.body'],
      [{ ...linked, request: { ...linked.request, body: { accessToken: 42 } } }, 'request.body.accessToken'],
      [{ ...linked, request: { ...linked.request, type: 7 } }, 'request.type'],
    ];
    for (const [body, field] of cases) {
      const res = await postEvent(client, body);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      if (field) expect(Object.keys(res.body.fields ?? {})).toContain(field);
    }
  });

  it('when the body is not JSON, too large, or not application/json, then 4xx JSON errors and nothing is parsed', async () => {
    const { client } = await linkedUser();
    const auth = (r: request.Test) => r.auth(client.clientId, client.clientSecret);
    const broken = await auth(request(ctx.app).post(PATH)).set('Content-Type', 'application/json').send('{"version": "1.0",');
    expect(broken.status).toBe(400);
    expect(broken.body.error).toBe('invalid_request');
    const form = await auth(request(ctx.app).post(PATH)).type('form').send({ version: '1.0' });
    expect(form.status).toBe(400);
    expect(form.body.error).toBe('invalid_request');
    const big = skillEventEnvelope('AlexaSkillEvent.SkillEnabled', { userId: alexaUserId() }, { padding: 'x'.repeat(20_000) });
    const tooLarge = await auth(request(ctx.app).post(PATH)).send(big);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error).toBe('invalid_request');
  });

  it('when the method is not POST, then 405 with Allow: POST', async () => {
    const res = await request(ctx.app).get(PATH);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(res.body.error).toBe('invalid_request');
  });
});
