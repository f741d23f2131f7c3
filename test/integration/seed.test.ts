import request from 'supertest';
import { DEMO_RECIPES, DEMO_USER } from '../../src/recipes/demo-recipes';
import { cli } from '../support/cli';
import { createTestContext, signInAs, TestContext, uniqueEmail, webAgent } from '../support/context';
import { issueAccessToken } from '../support/tokens';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const recipeCount = async (authorId: number) => Number((await ctx.knex('recipes').where({ author_id: authorId }).count({ n: '*' }))[0].n);

describe('db:seed', () => {
  it('when run, then it prints a demo user who can sign in, and a dozen published recipes with ingredients and steps exist', async () => {
    const email = uniqueEmail('demo');
    const r = await cli(['db:seed', '--email', email, '--json']);
    expect(r.code).toBe(0);
    const out = r.json();
    expect(out).toEqual({ email, password: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/), user_created: true, recipes: 12, recipes_created: 12 });
    expect((await signInAs(webAgent(ctx.app), email, out.password)).status).toBe(303);

    const user = (await ctx.services.accounts.findByEmail(email))!;
    const { token } = await issueAccessToken(ctx, { userId: user.id, scope: ['read'] });
    const list = await request(ctx.app).get('/api/recipes?mine=true&limit=100').set('Authorization', `Bearer ${token}`);
    expect(list.body.items).toHaveLength(12);
    expect(list.body.items.every((item: { published: boolean }) => item.published)).toBe(true);
    const lentils = await request(ctx.app).get('/api/recipes?mine=true&q=lentil').set('Authorization', `Bearer ${token}`);
    expect(lentils.body.items.map((i: { title: string }) => i.title)).toEqual(['Red Lentil Dal with Spinach']);
  });

  it('when run twice, then nothing is duplicated and the existing password is left alone', async () => {
    const email = uniqueEmail('demo-twice');
    const first = await cli(['db:seed', '--email', email, '--password', 'demo password 123', '--json']);
    expect(first.json()).toMatchObject({ password: 'demo password 123', recipes_created: 12 });
    const second = await cli(['db:seed', '--email', email, '--json']);
    expect(second.code).toBe(0);
    expect(second.json()).toEqual({ email, password: null, user_created: false, recipes: 12, recipes_created: 0 });
    const user = (await ctx.services.accounts.findByEmail(email))!;
    expect(await recipeCount(user.id)).toBe(12);
    expect((await signInAs(webAgent(ctx.app), email, 'demo password 123')).status).toBe(303);
  });

  it('when run without options, then the demo user is demo@linkbridge.test and the output says how to sign in', async () => {
    const r = await cli(['db:seed']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Demo user: ${DEMO_USER.email}`);
    expect(r.stdout).toMatch(/Password: {2}\S+/);
    expect(r.stdout).toContain('http://localhost:3000/login');
  });

  it('when the given password is too short, then it exits 1 with the reason and creates nothing', async () => {
    const email = uniqueEmail('demo-short');
    const r = await cli(['db:seed', '--email', email, '--password', 'short']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('at least 8 characters');
    expect(await ctx.services.accounts.findByEmail(email)).toBeUndefined();
  });

  it('when the demo recipes are read one by one, then each has a summary, ingredients and 4 to 8 steps, and the titles differ', () => {
    expect(DEMO_RECIPES).toHaveLength(12);
    for (const recipe of DEMO_RECIPES) {
      expect(recipe.summary.length).toBeGreaterThan(20);
      expect(recipe.ingredients.length).toBeGreaterThanOrEqual(4);
      expect(recipe.steps.length).toBeGreaterThanOrEqual(4);
      expect(recipe.steps.length).toBeLessThanOrEqual(8);
    }
    expect(new Set(DEMO_RECIPES.map((r) => r.title)).size).toBe(12);
  });
});
