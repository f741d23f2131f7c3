import { BridgeAlexa, BridgeCredentials, cliWithStdin, startStrictUpstream, StrictUpstream, uniqueBridgeName, uniqueVendor } from '../support/bridge';
import { createTestContext, createUser, TEST_ENCRYPTION_KEY, TestContext } from '../support/context';
import { onPostgres, postgresServerEnv, ServerProcess, startServerProcess } from '../support/server-process';

/**
 * Two server processes on one PostgreSQL behind a load balancer, one bridge in front of a strict
 * upstream (oidc-provider, rotation with reuse detection). Refreshes for one link arriving at
 * both processes at once must make exactly one upstream refresh between them: the link's lease
 * is in the database, not in a process. Runs on the PostgreSQL backend (like multi-process.test.ts).
 */
const describePg = onPostgres ? describe : describe.skip;

describePg('a bridge served by two processes on one database', () => {
  let ctx: TestContext;
  let a: ServerProcess;
  let b: ServerProcess;
  let urlA: string;
  let urlB: string;
  let upstream: StrictUpstream;
  let bridge: BridgeCredentials;

  beforeAll(async () => {
    ctx = createTestContext();
    const env = postgresServerEnv({ ENCRYPTION_KEYS: TEST_ENCRYPTION_KEY });
    a = startServerProcess(env);
    b = startServerProcess(env);
    urlA = a.url(await a.ready);
    urlB = b.url(await b.ready);
    const name = uniqueBridgeName('mp');
    upstream = await startStrictUpstream(`${urlA}/bridge/${name}/callback`);
    const vendorId = uniqueVendor();
    const created = await cliWithStdin(
      ['bridges:create', '--name', name, '--vendor-id', vendorId, '--base-url', urlA, '--authorize-url', `${upstream.url}/auth`, '--token-url', `${upstream.url}/token`,
        '--client-id', 'linkbridge', '--client-secret-stdin', '--pkce', '--scope', 'read=read', '--allow-http', '--json'],
      upstream.clientSecret,
    );
    if (created.code !== 0) throw new Error(created.stderr);
    bridge = { name, baseUrl: urlA, clientId: created.json().client_id, clientSecret: created.json().client_secret, vendorId };
  }, 90000);

  afterAll(async () => {
    await upstream?.stop();
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
    await ctx.close();
  });

  it('when refreshes for one link reach both processes at once, then all succeed with one upstream refresh and no reused token', async () => {
    const user = await createUser(ctx);
    const alexa = new BridgeAlexa(bridge, { scope: 'read' });
    await alexa.link(user.email);
    const handle = alexa.tokens!.refresh_token!;
    const onA = new BridgeAlexa(bridge, { tokenBase: urlA });
    const onB = new BridgeAlexa(bridge, { tokenBase: urlB });
    const before = await upstream.stats();
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? onB : onA).refresh(handle)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(answers.map((r) => r.body.access_token)).size).toBe(1);
    const after = await upstream.stats();
    expect(after.refreshes).toBe(before.refreshes + 1);
    expect(after.reusedRefreshTokens).toBe(0);
  });

  it('when a refresh answer from one process is lost and Alexa retries on the other, then the retry gets the same answer without a second upstream refresh', async () => {
    const user = await createUser(ctx);
    const alexa = new BridgeAlexa(bridge, { scope: 'read' });
    await alexa.link(user.email);
    const handle = alexa.tokens!.refresh_token!;
    const before = await upstream.stats();
    const lost = await new BridgeAlexa(bridge, { tokenBase: urlA }).refresh(handle);
    expect(lost.status).toBe(200);
    const retry = await new BridgeAlexa(bridge, { tokenBase: urlB }).refresh(handle);
    expect(retry.status).toBe(200);
    expect(retry.body.access_token).toBe(lost.body.access_token);
    const after = await upstream.stats();
    expect(after.refreshes).toBe(before.refreshes + 1);
    expect(after.reusedRefreshTokens).toBe(0);
  });
});
