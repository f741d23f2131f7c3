import { createKnex } from '../../src/db/knex';
import { migrateLatest } from '../../src/db/migrate';
import { createServices } from '../../src/services';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { createUser, TestContext, testConfig } from '../support/context';
import { OwnPostgres } from '../support/own-postgres';
import { form, ServerProcess, startServerProcess } from '../support/server-process';
import { createApp } from '../../src/app';

/**
 * The database goes away while the server runs, then comes back. Uses a PostgreSQL server the
 * test starts and stops itself; runs where the machine has PostgreSQL's binaries (CI does).
 */
const describeOwnPg = OwnPostgres.available() ? describe : describe.skip;

describeOwnPg('database outage', () => {
  let pg: OwnPostgres;
  let server: ServerProcess;
  let url: string;
  let ctx: TestContext;

  beforeAll(async () => {
    pg = await OwnPostgres.create();
    const config = testConfig({ DATABASE_URL: pg.url });
    const knex = createKnex({ url: pg.url, poolMax: 2 });
    await migrateLatest(knex);
    const services = createServices(config, knex);
    ctx = { config, knex, services, app: createApp({ config, knex, services }), close: () => knex.destroy() };
    server = startServerProcess({ DATABASE_URL: pg.url, SESSION_SECRET: 'fault-test-secret-0123456789-abcdefghijkl', REQUEST_TIMEOUT_SECONDS: '20' });
    url = server.url(await server.ready);
  }, 90000);

  afterAll(async () => {
    await server?.stop();
    await ctx?.close();
    await pg?.destroy();
  });

  const timed = async <T>(work: Promise<T>) => {
    const started = Date.now();
    const value = await work;
    return { value, ms: Date.now() - started };
  };

  it('when the database stops, then the server answers 503 without issuing anything, stays up, and recovers by itself when it returns', async () => {
    const user = await createUser(ctx);
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx));
    const tokens = await alexa.link(user);
    const basic = `Basic ${Buffer.from(`${alexa.client.clientId}:${alexa.client.clientSecret}`).toString('base64')}`;
    const refresh = () => fetch(`${url}/oauth/token`, { ...form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }), headers: { ...form({}).headers, authorization: basic } });
    const me = () => fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });

    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await me()).status).toBe(200);
    expect((await refresh()).status).toBe(200);

    await pg.stop();

    const ready = await timed(fetch(`${url}/readyz`));
    expect(ready.value.status).toBe(503);
    const api = await timed(me());
    expect(api.value.status).toBe(503);
    expect(await api.value.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    const token = await timed(refresh());
    expect(token.value.status).toBe(503);
    const body = await token.value.json();
    expect(body.error).toBe('temporarily_unavailable');
    expect(body).not.toHaveProperty('access_token');
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|select|stack/i);
    for (const t of [ready, api, token]) expect(t.ms).toBeLessThan(12000); // bounded, never a hang
    expect((await fetch(`${url}/healthz`)).status).toBe(200); // the process is still up

    await pg.start();
    let readyAgain = 0;
    for (let i = 0; i < 40 && readyAgain !== 200; i++) {
      await new Promise((r) => setTimeout(r, 500));
      readyAgain = (await fetch(`${url}/readyz`)).status;
    }
    expect(readyAgain).toBe(200);
    expect((await refresh()).status).toBe(200);
    expect((await me()).status).toBe(200);
  }, 120000);
});
