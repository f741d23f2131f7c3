import request from 'supertest';
import { createTestContext, signInAs, TestContext, webAgent } from '../support/context';
import { apiUser, createRecipe, recipeInput, uniqueWord } from '../support/recipes';
import { issueAccessToken } from '../support/tokens';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

const api = () => request(ctx.app);
const encode = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

describe('API authentication (RFC 6750)', () => {
  it('when no token is sent, then 401 with a Bearer realm challenge and no error code', async () => {
    const res = await api().get('/api/recipes');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="linkbridge"');
    expect(res.headers['content-type']).toMatch(/application\/json/);
  });

  it('when the token is unknown, then 401 invalid_token', async () => {
    const res = await api().get('/api/recipes').set('Authorization', 'Bearer lb_at_not-a-real-token');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="linkbridge", error="invalid_token"/);
    expect(res.body.error).toBe('invalid_token');
  });

  it('when the token has expired, then 401 invalid_token', async () => {
    const { user } = await apiUser(ctx);
    const { token } = await issueAccessToken(ctx, { userId: user.id, expiresInSeconds: -5 });
    const res = await api().get('/api/me').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_token');
  });

  it.each([
    ['POST', '/api/recipes'],
    ['PATCH', '/api/recipes/:id'],
    ['DELETE', '/api/recipes/:id'],
  ])('when a read token tries %s %s, then 403 insufficient_scope with scope="write" and nothing changes', async (method, path) => {
    const reader = await apiUser(ctx, ['read']);
    const recipe = await createRecipe(ctx, reader.user.id);
    const url = path.replace(':id', String(recipe.id));
    const res = await api()[method.toLowerCase() as 'post' | 'patch' | 'delete'](url).set('Authorization', reader.auth).send({ title: 'Changed' });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(res.headers['www-authenticate']).toContain('scope="write"');
    const after = await ctx.services.recipes.list(reader.user.id, { mine: 'true' });
    expect(after.items.map((r) => [r.id, r.title])).toEqual([[recipe.id, recipe.title]]);
  });

  it('when a write-only token tries to read, then 403 insufficient_scope with scope="read"', async () => {
    const writer = await apiUser(ctx, ['write']);
    const res = await api().get('/api/recipes').set('Authorization', writer.auth);
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toContain('scope="read"');
  });

  it('when a signed-in browser calls the API with only its session cookie, then 401', async () => {
    const { user } = await apiUser(ctx);
    const agent = webAgent(ctx.app);
    expect((await signInAs(agent, user.email)).status).toBe(303);
    expect((await agent.get('/')).status).toBe(200); // the session works on the site
    for (const path of ['/api/me', '/api/recipes', '/api/bookmarks']) {
      const res = await agent.get(path);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="linkbridge"');
    }
    const write = await agent.post('/api/recipes').send(recipeInput());
    expect(write.status).toBe(401);
  });

  it('when the API answers, then it sets no cookie and is not cached', async () => {
    const me = await apiUser(ctx);
    const res = await api().get('/api/me').set('Authorization', me.auth);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
  });
});

describe('GET /api/me', () => {
  it('when called with a read token, then it answers the linked user id, name and email', async () => {
    const me = await apiUser(ctx, ['read']);
    const res = await api().get('/api/me').set('Authorization', me.auth);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: me.user.id, name: 'API Cook', email: me.user.email });
  });
});

describe('GET /api/recipes: visibility and search', () => {
  it('when listing, then published recipes of others and my own private ones appear, but not private ones of others', async () => {
    const word = uniqueWord();
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const mine = await createRecipe(ctx, me.user.id, { title: `My ${word} soup`, published: false });
    const theirsPublished = await createRecipe(ctx, other.user.id, { title: `Their ${word} stew` });
    await createRecipe(ctx, other.user.id, { title: `Their secret ${word} cake`, published: false });

    const res = await api().get('/api/recipes').query({ q: word }).set('Authorization', me.auth);
    expect(res.status).toBe(200);
    expect(res.body.items.map((r: { id: number }) => r.id)).toEqual([theirsPublished.id, mine.id]);
    const [theirs, own] = res.body.items;
    expect(own).toMatchObject({ mine: true, published: false, author: { id: me.user.id, name: 'API Cook' } });
    expect(theirs).toMatchObject({ mine: false, published: true, bookmarked: false });
    expect(own.steps).toBeUndefined(); // list items leave the steps out
    expect(res.body.next_cursor).toBeNull();
  });

  it('when mine=true, then only my own recipes are listed', async () => {
    const word = uniqueWord();
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const mine = await createRecipe(ctx, me.user.id, { title: `${word} bread` });
    await createRecipe(ctx, other.user.id, { title: `${word} buns` });
    const res = await api().get('/api/recipes').query({ q: word, mine: 'true' }).set('Authorization', me.auth);
    expect(res.body.items.map((r: { id: number }) => r.id)).toEqual([mine.id]);
  });

  it.each(['title', 'summary', 'ingredients'])('when the search word is only in the %s, then the recipe is found', async (field) => {
    const word = uniqueWord();
    const me = await apiUser(ctx);
    const where: Record<string, unknown> = {
      title: { title: `Roasted ${word} with herbs` },
      summary: { summary: `A bright ${word} dish for weeknights.` },
      ingredients: { ingredients: ['1 onion', `200 g ${word}`] },
    }[field] as Record<string, unknown>;
    const recipe = await createRecipe(ctx, me.user.id, where);
    await createRecipe(ctx, me.user.id); // does not match
    const res = await api().get('/api/recipes').query({ q: word }).set('Authorization', me.auth);
    expect(res.status).toBe(200);
    expect(res.body.items.map((r: { id: number }) => r.id)).toEqual([recipe.id]);
  });

  it('when the search uses web syntax, then phrases, exclusions and stemming work', async () => {
    const [a, b] = [uniqueWord(), uniqueWord()];
    const me = await apiUser(ctx);
    const both = await createRecipe(ctx, me.user.id, { title: `${a} and ${b} pie` });
    const onlyA = await createRecipe(ctx, me.user.id, { title: `${a} tart with roasted lemons` });
    const ids = async (q: string) => (await api().get('/api/recipes').query({ q }).set('Authorization', me.auth)).body.items.map((r: { id: number }) => r.id);
    expect(await ids(a)).toEqual([onlyA.id, both.id]);
    expect(await ids(`${a} -${b}`)).toEqual([onlyA.id]);
    expect(await ids(`"${a} and ${b}"`)).toEqual([both.id]);
    expect(await ids(`${a} roast lemon`)).toEqual([onlyA.id]); // "roasted lemons" stems to roast, lemon
  });

  it('when the search text is longer than 200 characters, then 400 invalid_request naming q', async () => {
    const me = await apiUser(ctx);
    const res = await api().get('/api/recipes').query({ q: 'a'.repeat(201) }).set('Authorization', me.auth);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', fields: { q: expect.stringContaining('200') } });
  });

  it('when the search holds only punctuation or stop words, then it answers an empty list, not an error', async () => {
    const me = await apiUser(ctx);
    for (const q of ['the', '!:*&|()', '"']) {
      const res = await api().get('/api/recipes').query({ q, mine: 'true' }).set('Authorization', me.auth);
      expect(res.status).toBe(200);
    }
  });

  it('when mine is not a boolean, then 400', async () => {
    const me = await apiUser(ctx);
    const res = await api().get('/api/recipes?mine=maybe').set('Authorization', me.auth);
    expect(res.status).toBe(400);
    expect(res.body.fields).toHaveProperty('mine');
  });
});

describe('GET /api/recipes: pagination', () => {
  async function userWithRecipes(n: number) {
    const me = await apiUser(ctx);
    const ids: number[] = [];
    for (let i = 0; i < n; i++) ids.push((await createRecipe(ctx, me.user.id, { title: `Paged ${i}` })).id);
    return { ...me, newestFirst: ids.reverse() };
  }
  const page = (auth: string, query: Record<string, string>) => api().get('/api/recipes').query({ mine: 'true', ...query }).set('Authorization', auth);

  it('when paging with limit=2 through five recipes, then pages of 2, 2 and 1 come newest first and the last has next_cursor null', async () => {
    const me = await userWithRecipes(5);
    const first = await page(me.auth, { limit: '2' });
    expect(first.body.items.map((r: { id: number }) => r.id)).toEqual(me.newestFirst.slice(0, 2));
    expect(typeof first.body.next_cursor).toBe('string');
    const second = await page(me.auth, { limit: '2', cursor: first.body.next_cursor });
    expect(second.body.items.map((r: { id: number }) => r.id)).toEqual(me.newestFirst.slice(2, 4));
    const third = await page(me.auth, { limit: '2', cursor: second.body.next_cursor });
    expect(third.body.items.map((r: { id: number }) => r.id)).toEqual(me.newestFirst.slice(4));
    expect(third.body.next_cursor).toBeNull();
  });

  it('when the recipes fill the last page exactly, then that page has next_cursor null', async () => {
    const me = await userWithRecipes(4);
    const first = await page(me.auth, { limit: '2' });
    expect(first.body.next_cursor).not.toBeNull();
    const second = await page(me.auth, { limit: '2', cursor: first.body.next_cursor });
    expect(second.body.items).toHaveLength(2);
    expect(second.body.next_cursor).toBeNull();
  });

  it('when a recipe is added between pages, then the next page neither repeats nor skips one', async () => {
    const me = await userWithRecipes(3);
    const first = await page(me.auth, { limit: '2' });
    await createRecipe(ctx, me.user.id, { title: 'Added meanwhile' });
    const second = await page(me.auth, { limit: '2', cursor: first.body.next_cursor });
    expect(second.body.items.map((r: { id: number }) => r.id)).toEqual(me.newestFirst.slice(2));
  });

  it('when no limit is given, then 20 come with a cursor; limit=100 is the most', async () => {
    const me = await userWithRecipes(21);
    const res = await page(me.auth, {});
    expect(res.body.items).toHaveLength(20);
    expect(res.body.next_cursor).not.toBeNull();
    const all = await page(me.auth, { limit: '100' });
    expect(all.body.items).toHaveLength(21);
    expect(all.body.next_cursor).toBeNull();
  });

  it.each(['0', '101', 'abc', '-1', '1.5', '99999999999999999999'])('when limit=%s, then 400 invalid_request naming limit', async (limit) => {
    const me = await apiUser(ctx);
    const res = await page(me.auth, { limit });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', fields: { limit: expect.any(String) } });
  });

  it('when limit is given twice, then 400', async () => {
    const me = await apiUser(ctx);
    const res = await api().get('/api/recipes?limit=1&limit=2').set('Authorization', me.auth);
    expect(res.status).toBe(400);
  });

  it.each([
    ['garbage', 'not-a-cursor!'],
    ['not JSON', encode('{"id":')],
    ['a wrong key', encode({ t: 1 })],
    ['a negative id', encode({ id: -1 })],
    ['a text id', encode({ id: '5' })],
    ['an extra key', encode({ id: 5, x: 1 })],
    ['a huge cursor', encode({ id: 5, pad: 'x'.repeat(500) })],
  ])('when the cursor is tampered with (%s), then 400 invalid_request naming cursor', async (_name, cursor) => {
    const me = await apiUser(ctx);
    const res = await page(me.auth, { cursor });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', fields: { cursor: expect.stringContaining('cursor') } });
  });
});

describe('GET /api/recipes/:id', () => {
  it('when I read my private recipe, then it has its ingredients and its steps in order', async () => {
    const me = await apiUser(ctx);
    const steps = ['Heat the pan.', 'Add the butter.', 'Add the eggs.', 'Stir gently until just set.'];
    const recipe = await createRecipe(ctx, me.user.id, { steps, ingredients: ['3 eggs', '1 tbsp butter'], published: false });
    const res = await api().get(`/api/recipes/${recipe.id}`).set('Authorization', me.auth);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: recipe.id, steps, ingredients: ['3 eggs', '1 tbsp butter'], published: false, mine: true });
  });

  it('when the recipe is private and someone else\u2019s, then 404 exactly like a missing one', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const secret = await createRecipe(ctx, other.user.id, { published: false });
    const hidden = await api().get(`/api/recipes/${secret.id}`).set('Authorization', me.auth);
    const missing = await api().get('/api/recipes/999999999999').set('Authorization', me.auth);
    expect(hidden.status).toBe(404);
    expect(hidden.body).toEqual(missing.body);
    expect(hidden.body.error).toBe('not_found');
  });

  it('when someone else\u2019s recipe is published, then I can read it but it is not mine', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const recipe = await createRecipe(ctx, other.user.id);
    const res = await api().get(`/api/recipes/${recipe.id}`).set('Authorization', me.auth);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ mine: false, author: { id: other.user.id } });
  });

  it.each(['abc', '0', '-1', '1.5', '99999999999999999999', '1e3'])('when the id is %s, then 404 JSON, never 500', async (id) => {
    const me = await apiUser(ctx);
    const res = await api().get(`/api/recipes/${id}`).set('Authorization', me.auth);
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('not_found');
  });
});

describe('POST /api/recipes', () => {
  it('when the body is valid, then 201 with Location, trimmed fields and defaults', async () => {
    const me = await apiUser(ctx);
    const res = await api()
      .post('/api/recipes')
      .set('Authorization', me.auth)
      .send({ title: '  Quick tomato toast  ', ingredients: ['1 slice of bread', '1 tomato'], steps: ['Toast the bread.', 'Top with sliced tomato.'] });
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/api/recipes/${res.body.id}`);
    expect(res.body).toMatchObject({ title: 'Quick tomato toast', summary: '', minutes: null, servings: null, published: false, mine: true, bookmarked: false });
    const read = await api().get(res.headers.location).set('Authorization', me.auth);
    expect(read.body.steps).toEqual(['Toast the bread.', 'Top with sliced tomato.']);
  });

  it('when fields are missing or of the wrong type, then 400 names each field', async () => {
    const me = await apiUser(ctx);
    const res = await api()
      .post('/api/recipes')
      .set('Authorization', me.auth)
      .send({ ingredients: [], steps: 'stir', minutes: 1.5, servings: '4', published: 'yes' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(Object.keys(res.body.fields).sort()).toEqual(['ingredients', 'minutes', 'published', 'servings', 'steps', 'title']);
    expect(res.body.fields.title).toBe('Title is required.');
  });

  it('when a list item is empty or too long, then 400 names the item', async () => {
    const me = await apiUser(ctx);
    const res = await api()
      .post('/api/recipes')
      .set('Authorization', me.auth)
      .send(recipeInput({ ingredients: ['salt', '   '], steps: ['x'.repeat(2001)] }));
    expect(res.status).toBe(400);
    expect(res.body.fields).toEqual({ 'ingredients.1': expect.any(String), 'steps.0': expect.stringContaining('2000') });
  });

  it('when sizes are over the bounds, then 400', async () => {
    const me = await apiUser(ctx);
    for (const body of [
      recipeInput({ title: 'x'.repeat(201) }),
      recipeInput({ ingredients: Array.from({ length: 101 }, (_, i) => `item ${i}`) }),
      recipeInput({ steps: Array.from({ length: 51 }, (_, i) => `step ${i}`) }),
      recipeInput({ minutes: 0 }),
      recipeInput({ servings: 1001 }),
    ]) {
      const res = await api().post('/api/recipes').set('Authorization', me.auth).send(body);
      expect(res.status).toBe(400);
    }
  });

  it('when the body has an unknown field, then 400 names it and nothing is created', async () => {
    const me = await apiUser(ctx);
    const res = await api().post('/api/recipes').set('Authorization', me.auth).send(recipeInput({ ingredient: 'typo' }));
    expect(res.status).toBe(400);
    expect(res.body.error_description).toContain('ingredient');
    expect((await ctx.services.recipes.list(me.user.id, { mine: 'true' })).items).toHaveLength(0);
  });

  it.each([
    ['an array', '[1, 2]'],
    ['a string', '"a recipe"'],
    ['a number', '42'],
    ['null', 'null'],
    ['malformed JSON', '{"title": "x",'],
  ])('when the JSON body is %s, then 400 invalid_request', async (_name, body) => {
    const me = await apiUser(ctx);
    const res = await api().post('/api/recipes').set('Authorization', me.auth).set('Content-Type', 'application/json').send(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('when the body is not JSON, then 400 asks for a JSON object', async () => {
    const me = await apiUser(ctx);
    const res = await api().post('/api/recipes').set('Authorization', me.auth).type('form').send({ title: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.error_description).toContain('JSON object');
  });

  it('when the body is larger than 64 kB, then 413', async () => {
    const me = await apiUser(ctx);
    const res = await api()
      .post('/api/recipes')
      .set('Authorization', me.auth)
      .send(recipeInput({ summary: 'x'.repeat(70 * 1024) }));
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('invalid_request');
  });

  it('when an oversized body comes without a token, then 401: bodies are read only after the token', async () => {
    const res = await api()
      .post('/api/recipes')
      .send(recipeInput({ summary: 'x'.repeat(70 * 1024) }));
    expect(res.status).toBe(401);
  });
});

describe('PATCH /api/recipes/:id', () => {
  it('when I change some fields of my recipe, then only those change and updated_at moves', async () => {
    const me = await apiUser(ctx);
    const recipe = await createRecipe(ctx, me.user.id, { minutes: 25 });
    const res = await api().patch(`/api/recipes/${recipe.id}`).set('Authorization', me.auth).send({ title: 'Renamed', minutes: null, published: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ title: 'Renamed', minutes: null, published: false, summary: recipe.summary, steps: recipe.steps });
    expect(new Date(res.body.updated_at).getTime()).toBeGreaterThanOrEqual(recipe.updatedAt.getTime());
  });

  it('when the body is empty, then nothing changes and the recipe is answered', async () => {
    const me = await apiUser(ctx);
    const recipe = await createRecipe(ctx, me.user.id);
    const res = await api().patch(`/api/recipes/${recipe.id}`).set('Authorization', me.auth).send({});
    expect(res.status).toBe(200);
    expect(res.body.title).toBe(recipe.title);
  });

  it('when I patch someone else\u2019s published recipe, then 404 and it is unchanged', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const recipe = await createRecipe(ctx, other.user.id);
    const res = await api().patch(`/api/recipes/${recipe.id}`).set('Authorization', me.auth).send({ title: 'Hijacked' });
    expect(res.status).toBe(404);
    expect((await ctx.services.recipes.get(other.user.id, recipe.id)).title).toBe(recipe.title);
  });

  it('when the patch has an unknown field or a bad value, then 400 and nothing changes', async () => {
    const me = await apiUser(ctx);
    const recipe = await createRecipe(ctx, me.user.id);
    const unknown = await api().patch(`/api/recipes/${recipe.id}`).set('Authorization', me.auth).send({ title: 'New', author_id: 1 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error_description).toContain('author_id');
    const bad = await api().patch(`/api/recipes/${recipe.id}`).set('Authorization', me.auth).send({ title: '' });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toEqual({ title: 'Give the recipe a title.' });
    expect((await ctx.services.recipes.get(me.user.id, recipe.id)).title).toBe(recipe.title);
  });
});

describe('DELETE /api/recipes/:id', () => {
  it('when I delete my recipe, then 204, it is gone, and deleting again is 404', async () => {
    const me = await apiUser(ctx);
    const recipe = await createRecipe(ctx, me.user.id);
    expect((await api().delete(`/api/recipes/${recipe.id}`).set('Authorization', me.auth)).status).toBe(204);
    expect((await api().get(`/api/recipes/${recipe.id}`).set('Authorization', me.auth)).status).toBe(404);
    expect((await api().delete(`/api/recipes/${recipe.id}`).set('Authorization', me.auth)).status).toBe(404);
  });

  it('when I delete someone else\u2019s recipe, then 404 and it still exists', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const recipe = await createRecipe(ctx, other.user.id);
    expect((await api().delete(`/api/recipes/${recipe.id}`).set('Authorization', me.auth)).status).toBe(404);
    expect((await ctx.services.recipes.get(other.user.id, recipe.id)).id).toBe(recipe.id);
  });
});

describe('API routing', () => {
  it('when a method is not served on a known path, then 405 with Allow', async () => {
    const res = await api().put('/api/recipes');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, POST, HEAD');
    expect(res.body.error).toBe('method_not_allowed');
  });

  it('when the path is unknown, then 404 JSON', async () => {
    const res = await api().get('/api/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: 'not_found' });
  });
});
