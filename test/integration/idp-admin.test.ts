import { randomBytes } from 'node:crypto';
import { createTestContext, createUser, csrfFrom, signInAs, TestContext, webAgent } from '../support/context';

/** /admin/idps: admins add, edit, turn off and remove providers; nobody else sees them; secrets never shown. */
let ctx: TestContext;
const tag = randomBytes(3).toString('hex');
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(async () => {
  for (const p of await ctx.services.idps.list()) if (p.name.endsWith(tag)) await ctx.services.idps.remove(p.name, { force: true });
  await ctx.close();
});

async function admin() {
  const user = await createUser(ctx, { isAdmin: true });
  const agent = webAgent(ctx.app);
  await signInAs(agent, user.email);
  return agent;
}

describe('admin sign-in providers', () => {
  it('when an admin adds Login with Amazon in the form, then it lists with its callback URL, the secret is never shown, and it can be turned off and removed', async () => {
    const agent = await admin();
    const form = await agent.get('/admin/idps/new');
    expect(form.status).toBe(200);
    const name = `amazon-${tag}`;
    const secret = `never-shown-${tag}`;
    const created = await agent.post('/admin/idps').type('form').send({ _csrf: csrfFrom(form.text), type: 'amazon', name, clientId: 'amzn1.application-oa2-client.x', clientSecret: secret, allowSignup: 'on', enabled: 'on' });
    expect(created.status).toBe(303);
    const list = await agent.get('/admin/idps');
    expect(list.text).toContain(`http://localhost:3000/login/idp/${name}/callback`);
    expect(list.text).not.toContain(secret);
    const edit = await agent.get(`/admin/idps/${name}`);
    expect(edit.text).not.toContain(secret);
    expect(edit.text).toContain('https://www.amazon.com/ap/oa');
    // Saved without "enabled": turned off, the secret kept.
    const off = await agent.post(`/admin/idps/${name}`).type('form').send({ _csrf: csrfFrom(edit.text), displayName: 'Amazon account', clientId: 'amzn1.application-oa2-client.x' });
    expect(off.status).toBe(303);
    const p = await ctx.services.idps.get(name);
    expect(p).toMatchObject({ enabled: false, displayName: 'Amazon account' });
    expect(ctx.services.idps.secretOf(p)).toBe(secret);
    const page = await agent.get('/admin/idps');
    const removed = await agent.post(`/admin/idps/${name}/delete`).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(removed.status).toBe(303);
    await expect(ctx.services.idps.get(name)).rejects.toThrow('No sign-in provider');
  });

  it('when the form has bad or hostile values, then 400 with the message, and nothing is added', async () => {
    const agent = await admin();
    const form = await agent.get('/admin/idps/new');
    const bad = await agent.post('/admin/idps').type('form').send({ _csrf: csrfFrom(form.text), type: 'oidc', name: `x-${tag}`, clientId: 'c', clientSecret: 's', issuer: 'http://example.com' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('https://');
    const arrays = await agent.post('/admin/idps').type('form').send(`_csrf=${encodeURIComponent(csrfFrom(form.text))}&type=oidc&type=amazon&name=a&name=b&clientSecret=s`);
    expect(arrays.status).toBe(400);
    expect((await ctx.services.idps.list()).filter((p) => p.name === `x-${tag}`)).toEqual([]);
    expect((await agent.get('/admin/idps/NOT%20A%20NAME')).status).toBe(404);
  });

  it('when a non-admin asks for the providers, then 403', async () => {
    const agent = webAgent(ctx.app);
    await signInAs(agent, (await createUser(ctx)).email);
    expect((await agent.get('/admin/idps')).status).toBe(403);
  });
});
