import { execFile } from 'node:child_process';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import request from 'supertest';
import { sha256 } from '../../src/lib/crypto';
import { OOB_REDIRECT_URI } from '../../src/oauth/clients/redirect-uris';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createTestContext, createUser, csrfFrom, signInAs, TestContext, webAgent } from '../support/context';

/** Trying the server by hand, as Doorkeeper's guides teach it: `curl -F` and the out-of-band page. */

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

async function codeInHand() {
  const user = await createUser(ctx);
  const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
  const location = await alexa.openAndDecide(user);
  return { alexa, code: location.searchParams.get('code')! };
}

/** A multipart body as curl -F writes it (CRLF, no preamble, a closing CRLF). */
function multipart(fields: [string, string][], boundary = '------------------------d74496d66958873e', extra: (name: string) => string = () => '') {
  const parts = fields.map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"${extra(k)}\r\n\r\n${v}\r\n`).join('');
  return { body: `${parts}--${boundary}--\r\n`, type: `multipart/form-data; boundary=${boundary}` };
}

const postMultipart = (path: string, m: { body: string | Buffer; type: string }, auth?: [string, string]) => {
  const req = request(ctx.app).post(path).set('Content-Type', m.type);
  return (auth ? req.auth(...auth) : req).send(typeof m.body === 'string' ? Buffer.from(m.body) : m.body);
};

describe('multipart/form-data at the token, revocation and introspection endpoints', () => {
  it('when a code is exchanged with a multipart body (supertest .field, as curl -F), then the tokens come back as with a form body', async () => {
    const { alexa, code } = await codeInHand();
    const res = await request(ctx.app)
      .post('/oauth/token')
      .auth(alexa.client.clientId, alexa.client.clientSecret)
      .field('grant_type', 'authorization_code')
      .field('code', code)
      .field('redirect_uri', alexa.redirectUri);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read write' });
  });

  it('when the real curl -F commands of the guides run against a listening server, then exchange, refresh, introspect and revoke all work', async () => {
    const { alexa, code } = await codeInHand();
    const server = http.createServer(ctx.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const curl = async (path: string, fields: Record<string, string>) => {
      const args = ['-s', '-u', `${alexa.client.clientId}:${alexa.client.clientSecret}`, ...Object.entries(fields).flatMap(([k, v]) => ['-F', `${k}=${v}`]), `${base}${path}`];
      const { stdout } = await promisify(execFile)('curl', args);
      return JSON.parse(stdout) as Record<string, unknown>;
    };
    try {
      const tokens = await curl('/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri });
      expect(tokens.access_token).toMatch(/^lb_at_/);
      const refreshed = await curl('/oauth/token', { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) });
      expect(refreshed.access_token).toMatch(/^lb_at_/);
      expect(await curl('/oauth/introspect', { token: String(refreshed.access_token) })).toMatchObject({ active: true, client_id: alexa.client.clientId });
      expect(await curl('/oauth/revoke', { token: String(tokens.refresh_token) })).toEqual({});
      expect(await curl('/oauth/introspect', { token: String(refreshed.access_token) })).toEqual({ active: false });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('when a multipart part carries a file (curl -F name=@file), then 400 invalid_request and the code is not spent', async () => {
    const { alexa, code } = await codeInHand();
    const res = await request(ctx.app)
      .post('/oauth/token')
      .auth(alexa.client.clientId, alexa.client.clientSecret)
      .field('grant_type', 'authorization_code')
      .field('redirect_uri', alexa.redirectUri)
      .attach('code', Buffer.from(code), 'code.txt');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.error_description).toMatch(/File parts are not accepted/);
    expect((await alexa.exchange(code)).status).toBe(200);
  });

  it('when a multipart name is repeated, then 400 invalid_request', async () => {
    const { alexa, code } = await codeInHand();
    const m = multipart([['grant_type', 'authorization_code'], ['code', code], ['code', 'other'], ['redirect_uri', alexa.redirectUri]]);
    const res = await postMultipart('/oauth/token', m, [alexa.client.clientId, alexa.client.clientSecret]);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('"code" must be sent once') });
  });

  it('when a multipart body is over 16 kB or has over 50 parameters, then 413, as for a form body', async () => {
    const { alexa } = await codeInHand();
    const auth: [string, string] = [alexa.client.clientId, alexa.client.clientSecret];
    const big = await postMultipart('/oauth/token', multipart([['grant_type', 'authorization_code'], ['code', 'x'.repeat(17 * 1024)]]), auth);
    expect(big.status).toBe(413);
    expect(big.body.error).toBe('invalid_request');
    const fields: [string, string][] = Array.from({ length: 51 }, (_, i) => [`p${i}`, 'v']);
    const many = await postMultipart('/oauth/token', multipart(fields), auth);
    expect(many.status).toBe(413);
    expect(many.body.error_description).toMatch(/too many parameters/);
    const formMany = await request(ctx.app).post('/oauth/token').type('form').auth(...auth).send(Object.fromEntries(fields));
    expect(formMany.status).toBe(many.status);
  });

  it('when a multipart value holds a NUL byte, then 400 and never a database error', async () => {
    const { alexa } = await codeInHand();
    const res = await postMultipart('/oauth/revoke', multipart([['token', 'lb_rt_\u0000x']]), [alexa.client.clientId, alexa.client.clientSecret]);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it.each([
    ['no boundary in the Content-Type', { type: 'multipart/form-data', body: '--x\r\nContent-Disposition: form-data; name="token"\r\n\r\nv\r\n--x--\r\n' }],
    ['a body that never closes', { type: 'multipart/form-data; boundary=x', body: '--x\r\nContent-Disposition: form-data; name="token"\r\n\r\nv' }],
    ['LF instead of CRLF', { type: 'multipart/form-data; boundary=x', body: '--x\nContent-Disposition: form-data; name="token"\n\nv\n--x--\n' }],
    ['a part without Content-Disposition', { type: 'multipart/form-data; boundary=x', body: '--x\r\nContent-Type: text/plain\r\n\r\nv\r\n--x--\r\n' }],
    ['a part of another content type', { type: 'multipart/form-data; boundary=x', body: '--x\r\nContent-Disposition: form-data; name="token"\r\nContent-Type: application/json\r\n\r\n{}\r\n--x--\r\n' }],
    ['a value that is not UTF-8', { type: 'multipart/form-data; boundary=x', body: Buffer.concat([Buffer.from('--x\r\nContent-Disposition: form-data; name="token"\r\n\r\n'), Buffer.from([0xff, 0xfe]), Buffer.from('\r\n--x--\r\n')]) }],
    ['an empty body', { type: 'multipart/form-data; boundary=x', body: '' }],
  ])('when the multipart body has %s, then 400 invalid_request, never a 500', async (_why, m) => {
    const { alexa } = await codeInHand();
    for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
      const res = await postMultipart(path, m, [alexa.client.clientId, alexa.client.clientSecret]);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });

  it('when another content type is sent (JSON), then it is still refused with invalid_request', async () => {
    const { alexa, code } = await codeInHand();
    const res = await request(ctx.app).post('/oauth/token').auth(alexa.client.clientId, alexa.client.clientSecret).send({ grant_type: 'authorization_code', code, redirect_uri: alexa.redirectUri });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });
});

describe('code lifetimes', () => {
  async function oobCode() {
    const { client, clientSecret } = await ctx.services.clients.create({ name: 'By hand', redirectUris: [OOB_REDIRECT_URI] });
    const user = await createUser(ctx);
    const agent = webAgent(ctx.app);
    await signInAs(agent, user.email);
    const page = await agent.get(`/oauth/authorize?${new URLSearchParams({ client_id: client.clientId, redirect_uri: OOB_REDIRECT_URI, response_type: 'code' })}`);
    const shown = await agent
      .post('/oauth/authorize')
      .type('form')
      .send({ _csrf: csrfFrom(page.text), transaction_id: /name="transaction_id" value="([^"]+)"/.exec(page.text)![1], decision: 'allow' });
    expect(shown.status).toBe(200);
    return { client, clientSecret: clientSecret!, code: /id="authorization-code">([^<]+)</.exec(shown.text)![1], page: shown.text };
  }
  const ttlOf = async (code: string) => {
    const row = await ctx.knex('oauth_authorization_codes').where({ code_hash: sha256(code) }).first();
    return (row.expires_at.getTime() - row.created_at.getTime()) / 1000;
  };

  it('when a code is shown on the out-of-band page, then it lives 10 minutes and the page says so', async () => {
    const { code, page } = await oobCode();
    const ttl = await ttlOf(code);
    expect(ttl).toBeGreaterThan(595);
    expect(ttl).toBeLessThanOrEqual(601);
    expect(page).toContain('expires in 10 minutes');
  });

  it('when an out-of-band code is pasted into a curl -F command, then it is redeemed', async () => {
    const { client, clientSecret, code } = await oobCode();
    const res = await request(ctx.app).post('/oauth/token').auth(client.clientId, clientSecret).field('grant_type', 'authorization_code').field('code', code).field('redirect_uri', OOB_REDIRECT_URI);
    expect(res.status).toBe(200);
    expect(res.body.access_token).toMatch(/^lb_at_/);
  });

  it('when a code is issued to a real redirect URI, then it keeps the short 60 s lifetime', async () => {
    const { code } = await codeInHand();
    const ttl = await ttlOf(code);
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(61);
  });
});
