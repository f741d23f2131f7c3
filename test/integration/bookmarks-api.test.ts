import request from 'supertest';
import { createTestContext, TestContext } from '../support/context';
import { apiUser, createRecipe } from '../support/recipes';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const api = () => request(ctx.app);
const listIds = async (auth: string, query: Record<string, string> = {}) => {
  const res = await api().get('/api/bookmarks').query(query).set('Authorization', auth);
  expect(res.status).toBe(200);
  return res.body.items.map((b: { recipe_id: number }) => b.recipe_id);
};

describe('PUT /api/bookmarks/:recipeId', () => {
  it('when I bookmark a recipe twice, then both answers are 204 and it is listed once with its first time', async () => {
    const me = await apiUser(ctx);
    const recipe = await createRecipe(ctx, me.user.id);
    const first = await api().put(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth);
    expect(first.status).toBe(204);
    const before = (await api().get('/api/bookmarks').set('Authorization', me.auth)).body.items;
    const second = await api().put(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth);
    expect(second.status).toBe(204);
    const after = (await api().get('/api/bookmarks').set('Authorization', me.auth)).body.items;
    expect(after).toEqual(before);
    expect(after).toEqual([{ recipe_id: recipe.id, title: recipe.title, summary: recipe.summary, minutes: recipe.minutes, created_at: expect.any(String) }]);
  });

  it('when I bookmark someone else\u2019s published recipe, then the recipe shows as bookmarked', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const recipe = await createRecipe(ctx, other.user.id);
    expect((await api().put(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth)).status).toBe(204);
    const read = await api().get(`/api/recipes/${recipe.id}`).set('Authorization', me.auth);
    expect(read.body.bookmarked).toBe(true);
    // ...for me only
    const theirs = await api().get(`/api/recipes/${recipe.id}`).set('Authorization', other.auth);
    expect(theirs.body.bookmarked).toBe(false);
  });

  it('when the recipe is someone else\u2019s private one, missing, or the id is malformed, then 404 and nothing is bookmarked', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const secret = await createRecipe(ctx, other.user.id, { published: false });
    for (const id of [String(secret.id), '999999999999', 'abc', '99999999999999999999']) {
      const res = await api().put(`/api/bookmarks/${id}`).set('Authorization', me.auth);
      expect(res.status).toBe(404);
      expect(res.body.error).toBe('not_found');
    }
    expect(await listIds(me.auth)).toEqual([]);
  });

  it('when many PUTs and DELETEs of one bookmark race, then none fails', async () => {
    const me = await apiUser(ctx);
    const recipe = await createRecipe(ctx, me.user.id);
    const calls = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 2 ? api().delete(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth) : api().put(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth),
    );
    const statuses = (await Promise.all(calls)).map((r) => r.status);
    expect(new Set(statuses)).toEqual(new Set([204]));
    // Whatever order they ran in, the end state is one consistent answer: at most one row, and
    // the list says exactly what the table holds.
    const rows = await ctx.knex('bookmarks').where({ user_id: me.user.id, recipe_id: recipe.id });
    expect(rows.length).toBeLessThanOrEqual(1);
    expect(await listIds(me.auth)).toEqual(rows.length ? [recipe.id] : []);
    expect((await api().put(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth)).status).toBe(204);
    expect(await listIds(me.auth)).toEqual([recipe.id]);
  });

  it('when a read token tries to bookmark or unbookmark, then 403 insufficient_scope with scope="write"', async () => {
    const reader = await apiUser(ctx, ['read']);
    const recipe = await createRecipe(ctx, reader.user.id);
    for (const res of [await api().put(`/api/bookmarks/${recipe.id}`).set('Authorization', reader.auth), await api().delete(`/api/bookmarks/${recipe.id}`).set('Authorization', reader.auth)]) {
      expect(res.status).toBe(403);
      expect(res.headers['www-authenticate']).toContain('scope="write"');
    }
    expect(await listIds(reader.auth)).toEqual([]);
  });

  it('when no token is sent, then 401', async () => {
    expect((await api().put('/api/bookmarks/1')).status).toBe(401);
    expect((await api().get('/api/bookmarks')).status).toBe(401);
  });
});

describe('DELETE /api/bookmarks/:recipeId', () => {
  it('when I remove a bookmark twice, or one I never had, then every answer is 204', async () => {
    const me = await apiUser(ctx);
    const recipe = await createRecipe(ctx, me.user.id);
    await api().put(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth);
    expect((await api().delete(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth)).status).toBe(204);
    expect((await api().delete(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth)).status).toBe(204);
    expect((await api().delete('/api/bookmarks/999999999999').set('Authorization', me.auth)).status).toBe(204);
    expect(await listIds(me.auth)).toEqual([]);
  });

  it('when I remove my bookmark, then another user\u2019s bookmark of the same recipe stays', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const recipe = await createRecipe(ctx, other.user.id);
    await api().put(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth);
    await api().put(`/api/bookmarks/${recipe.id}`).set('Authorization', other.auth);
    await api().delete(`/api/bookmarks/${recipe.id}`).set('Authorization', me.auth);
    expect(await listIds(other.auth)).toEqual([recipe.id]);
  });
});

describe('GET /api/bookmarks', () => {
  it('when I bookmark three recipes, then they are listed newest first', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const recipes = [await createRecipe(ctx, other.user.id), await createRecipe(ctx, me.user.id), await createRecipe(ctx, other.user.id)];
    // Bookmarked in another order than created: the list follows the bookmark time.
    for (const r of [recipes[2], recipes[0], recipes[1]]) {
      expect((await api().put(`/api/bookmarks/${r.id}`).set('Authorization', me.auth)).status).toBe(204);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await listIds(me.auth)).toEqual([recipes[1].id, recipes[0].id, recipes[2].id]);
  });

  it('when paging five bookmarks two at a time, then 2, 2, 1 without repeats and the last next_cursor is null', async () => {
    const me = await apiUser(ctx);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await createRecipe(ctx, me.user.id);
      await api().put(`/api/bookmarks/${r.id}`).set('Authorization', me.auth);
      ids.unshift(r.id);
    }
    const seen: number[] = [];
    let cursor: string | null = null;
    const sizes: number[] = [];
    do {
      const res: request.Response = await api()
        .get('/api/bookmarks')
        .query({ limit: '2', ...(cursor ? { cursor } : {}) })
        .set('Authorization', me.auth);
      expect(res.status).toBe(200);
      sizes.push(res.body.items.length);
      seen.push(...res.body.items.map((b: { recipe_id: number }) => b.recipe_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen).toEqual(ids);
  });

  it('when several bookmarks share one timestamp, then paging still neither repeats nor skips', async () => {
    const me = await apiUser(ctx);
    const recipes = [];
    for (let i = 0; i < 3; i++) recipes.push(await createRecipe(ctx, me.user.id));
    const same = new Date();
    await ctx.knex('bookmarks').insert(recipes.map((r) => ({ user_id: me.user.id, recipe_id: r.id, created_at: same })));
    const first = await api().get('/api/bookmarks?limit=2').set('Authorization', me.auth);
    const second = await api().get('/api/bookmarks').query({ limit: '2', cursor: first.body.next_cursor }).set('Authorization', me.auth);
    const ids = [...first.body.items, ...second.body.items].map((b: { recipe_id: number }) => b.recipe_id);
    expect(ids).toEqual(recipes.map((r) => r.id).reverse());
    expect(second.body.next_cursor).toBeNull();
  });

  it.each([
    ['limit=0', { limit: '0' }, 'limit'],
    ['limit=101', { limit: '101' }, 'limit'],
    ['limit=abc', { limit: 'abc' }, 'limit'],
    ['a tampered cursor', { cursor: Buffer.from('{"t":"yesterday","r":1}').toString('base64url') }, 'cursor'],
    ['a recipe cursor', { cursor: Buffer.from('{"id":5}').toString('base64url') }, 'cursor'],
  ])('when given %s, then 400 invalid_request naming the parameter', async (_name, query, field) => {
    const me = await apiUser(ctx);
    const res = await api().get('/api/bookmarks').query(query).set('Authorization', me.auth);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', fields: { [field]: expect.any(String) } });
  });

  it('when a bookmarked recipe is made private by its author, then it leaves my list; when deleted, the bookmark goes too', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const hidden = await createRecipe(ctx, other.user.id);
    const deleted = await createRecipe(ctx, other.user.id);
    await api().put(`/api/bookmarks/${hidden.id}`).set('Authorization', me.auth);
    await api().put(`/api/bookmarks/${deleted.id}`).set('Authorization', me.auth);
    await api().patch(`/api/recipes/${hidden.id}`).set('Authorization', other.auth).send({ published: false });
    await api().delete(`/api/recipes/${deleted.id}`).set('Authorization', other.auth);
    expect(await listIds(me.auth)).toEqual([]);
    expect(await ctx.knex('bookmarks').where({ user_id: me.user.id, recipe_id: deleted.id })).toHaveLength(0);
  });
});
