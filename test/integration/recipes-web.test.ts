import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import request from 'supertest';
import { createTestContext, createUser, csrfFrom, signInAs, TestContext, WebAgent, webAgent } from '../support/context';
import { createRecipe, uniqueWord } from '../support/recipes';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

async function signedIn(opts: { isAdmin?: boolean; name?: string } = {}) {
  const user = await createUser(ctx, { name: opts.name ?? 'Web Cook', isAdmin: opts.isAdmin });
  const agent = webAgent(ctx.app);
  expect((await signInAs(agent, user.email)).status).toBe(303);
  return { user, agent };
}

/** The CSRF token of a page the user has open. */
const csrfOf = async (agent: WebAgent, path: string) => csrfFrom((await agent.get(path)).text);

const recipeForm = (overrides: Record<string, string> = {}) => ({
  title: 'Web omelette',
  summary: 'Soft and folded.',
  ingredients: '3 eggs\r\n1 knob of butter\r\n\r\n  salt  ',
  steps: 'Beat the eggs.\nMelt the butter.\nCook, stirring, then fold.',
  minutes: '8',
  servings: '1',
  published: 'on',
  ...overrides,
});

const unescapeHtml = (s: string) => s.replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'");
const moreLink = (html: string) => {
  const m = /href="([^"]+)">More (?:recipes|bookmarks)</.exec(html);
  return m ? unescapeHtml(m[1]) : undefined;
};
const createdId = (res: request.Response) => Number(/^\/recipes\/(\d+)$/.exec(res.headers.location)![1]);

describe('recipe pages: access', () => {
  it.each(['/recipes', '/recipes/new', '/bookmarks', '/recipes/1'])('when a visitor is not signed in, then %s sends them to the login page and back', async (path) => {
    const res = await request(ctx.app).get(path);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/login?return_to=${encodeURIComponent(path)}`);
  });

  it.each(['/recipes', '/recipes/new', '/bookmarks'])('when %s is served, then it carries the security headers of the site', async (path) => {
    const { agent } = await signedIn();
    const res = await agent.get(path);
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toContain("script-src 'none'");
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.text).not.toMatch(/<script/i);
  });

  it('when a signed-in user views a page, then the header shows them and links to bookmarks and connected apps; only admins see clients', async () => {
    const { agent } = await signedIn({ name: 'Header Person' });
    const page = await agent.get('/recipes');
    expect(page.text).toContain('Header Person');
    expect(page.text).toContain('href="/bookmarks"');
    expect(page.text).toContain('href="/account/connections"');
    expect(page.text).not.toContain('href="/admin/clients"');
    const admin = await signedIn({ isAdmin: true });
    expect((await admin.agent.get('/recipes')).text).toContain('href="/admin/clients"');
  });
});

describe('recipe pages: browse and search', () => {
  it('when I search, then matching published recipes and my private ones are listed, and others\u2019 private ones are not', async () => {
    const word = uniqueWord();
    const { user, agent } = await signedIn();
    const other = await createUser(ctx, { name: 'Other Cook' });
    await createRecipe(ctx, user.id, { title: `My ${word} pie`, published: false });
    await createRecipe(ctx, other.id, { title: `Shared ${word} stew` });
    await createRecipe(ctx, other.id, { title: `Hidden ${word} cake`, published: false });
    const res = await agent.get(`/recipes?q=${word}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain(`My ${word} pie`);
    expect(res.text).toContain(`Shared ${word} stew`);
    expect(res.text).toContain('By Other Cook');
    expect(res.text).not.toContain(`Hidden ${word} cake`);
    expect(res.text).toContain(`value="${word}"`); // the search box keeps the query
    expect(res.text).toMatch(/<label for="q">/);
  });

  it('when nothing matches, then the page says so', async () => {
    const { agent } = await signedIn();
    const res = await agent.get(`/recipes?q=${uniqueWord()}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('No recipe matches your search.');
  });

  it('when the search is too long, then the page explains it with 400 instead of failing', async () => {
    const { agent } = await signedIn();
    const res = await agent.get(`/recipes?q=${'a'.repeat(201)}`);
    expect(res.status).toBe(400);
    expect(res.text).toContain('at most 200 characters');
  });

  it('when there are more recipes than fit a page, then a More link with a cursor shows the rest, keeping the filter', async () => {
    const { user, agent } = await signedIn();
    for (let i = 0; i < 21; i++) await createRecipe(ctx, user.id, { title: `Batch recipe ${i}` });
    const first = await agent.get('/recipes?mine=true');
    expect(first.text.match(/<li>/g)).toHaveLength(20);
    expect(first.text).toContain('Batch recipe 20');
    const more = moreLink(first.text)!;
    expect(more).toMatch(/^\/recipes\?mine=true&cursor=[A-Za-z0-9_-]+$/);
    const second = await agent.get(more);
    expect(second.status).toBe(200);
    expect(second.text).toContain('Batch recipe 0');
    expect(second.text).not.toContain('Batch recipe 1<');
    expect(moreLink(second.text)).toBeUndefined();
  });

  it('when a recipe title holds HTML, then it is shown as text', async () => {
    const { user, agent } = await signedIn();
    const recipe = await createRecipe(ctx, user.id, { title: '<script>alert(1)</script> & "quotes"' });
    for (const path of ['/recipes?mine=true', `/recipes/${recipe.id}`]) {
      const res = await agent.get(path);
      expect(res.text).not.toContain('<script>alert(1)</script>');
      expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;');
    }
  });
});

describe('recipe pages: read', () => {
  it('when I open a recipe, then it shows its ingredients and its steps in order', async () => {
    const { agent } = await signedIn();
    const other = await createUser(ctx);
    const recipe = await createRecipe(ctx, other.id, { steps: ['First do this.', 'Then that.', 'Finally serve.'] });
    const res = await agent.get(`/recipes/${recipe.id}`);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<ol class="steps">\s*<li>First do this\.<\/li><li>Then that\.<\/li><li>Finally serve\.<\/li>\s*<\/ol>/);
    expect(res.text).toContain('<li>2 eggs</li>');
    expect(res.text).not.toContain('/edit'); // not mine: no edit or delete
    expect(res.text).not.toContain('/delete');
  });

  it('when the recipe is someone else\u2019s private one, or the id is not a number, then 404', async () => {
    const { agent } = await signedIn();
    const other = await createUser(ctx);
    const secret = await createRecipe(ctx, other.id, { published: false });
    for (const path of [`/recipes/${secret.id}`, '/recipes/abc', '/recipes/99999999999999999999', `/recipes/${secret.id}/edit`]) {
      const res = await agent.get(path);
      expect(res.status).toBe(404);
      expect(res.text).toContain('Page not found');
    }
  });
});

describe('recipe pages: create, edit, delete', () => {
  it('when I fill in the new recipe form, then it is saved and I see it, with one ingredient per non-empty line', async () => {
    const { user, agent } = await signedIn();
    const page = await agent.get('/recipes/new');
    for (const field of ['title', 'summary', 'ingredients', 'steps', 'minutes', 'servings']) expect(page.text).toContain(`<label for="${field}">`);
    const res = await agent.post('/recipes').type('form').send({ _csrf: csrfFrom(page.text), ...recipeForm() });
    expect(res.status).toBe(303);
    const recipe = await ctx.services.recipes.get(user.id, createdId(res));
    expect(recipe).toMatchObject({
      title: 'Web omelette',
      ingredients: ['3 eggs', '1 knob of butter', 'salt'],
      steps: ['Beat the eggs.', 'Melt the butter.', 'Cook, stirring, then fold.'],
      minutes: 8,
      servings: 1,
      published: true,
      authorId: user.id,
    });
    const shown = await agent.get(res.headers.location);
    expect(shown.text).toContain('Web omelette');
    expect(shown.text).toContain('href="/recipes/' + recipe.id + '/edit"');
  });

  it('when the form is unchecked and numbers are blank, then the recipe is private with no time or servings', async () => {
    const { user, agent } = await signedIn();
    const csrf = await csrfOf(agent, '/recipes/new');
    const { published: _published, ...unpublished } = recipeForm({ minutes: '', servings: ' ' });
    const res = await agent.post('/recipes').type('form').send({ _csrf: csrf, ...unpublished });
    expect(res.status).toBe(303);
    expect(await ctx.services.recipes.get(user.id, createdId(res))).toMatchObject({ published: false, minutes: null, servings: null });
  });

  it('when the form has mistakes, then it comes back with 400, a message at each field and what I typed', async () => {
    const { user, agent } = await signedIn();
    const csrf = await csrfOf(agent, '/recipes/new');
    const res = await agent
      .post('/recipes')
      .type('form')
      .send({ _csrf: csrf, ...recipeForm({ title: '  ', minutes: 'ten', steps: `ok\n${'x'.repeat(2001)}`, summary: 'Kept <b>as typed</b>' }) });
    expect(res.status).toBe(400);
    expect(res.text).toContain('Give the recipe a title.');
    expect(res.text).toContain('Minutes must be a whole number');
    expect(res.text).toContain('(step 2)');
    expect(res.text).toContain('aria-describedby="title-error"');
    expect(res.text).toContain('Kept &lt;b&gt;as typed&lt;/b&gt;');
    expect(res.text).toContain('value="ten"');
    expect((await ctx.services.recipes.list(user.id, { mine: 'true' })).items).toHaveLength(0);
  });

  it('when the form is posted without its CSRF token, then 403 and nothing is created', async () => {
    const { user, agent } = await signedIn();
    await agent.get('/recipes/new');
    const res = await agent.post('/recipes').type('form').send(recipeForm());
    expect(res.status).toBe(403);
    expect((await ctx.services.recipes.list(user.id, { mine: 'true' })).items).toHaveLength(0);
  });

  it('when I edit my recipe, then the form is filled in and saving changes it', async () => {
    const { user, agent } = await signedIn();
    const recipe = await createRecipe(ctx, user.id, { title: 'Before', steps: ['One.', 'Two.'] });
    const form = await agent.get(`/recipes/${recipe.id}/edit`);
    expect(form.status).toBe(200);
    expect(form.text).toContain('value="Before"');
    expect(form.text).toContain('>One.\nTwo.</textarea>');
    expect(form.text).toContain(`action="/recipes/${recipe.id}"`);
    const res = await agent.post(`/recipes/${recipe.id}`).type('form').send({ _csrf: csrfFrom(form.text), ...recipeForm({ title: 'After' }) });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/recipes/${recipe.id}`);
    expect((await ctx.services.recipes.get(user.id, recipe.id)).title).toBe('After');
  });

  it('when I try to edit or delete someone else\u2019s published recipe, then 404 and it is unchanged', async () => {
    const { agent } = await signedIn();
    const other = await createUser(ctx);
    const recipe = await createRecipe(ctx, other.id, { title: 'Not yours' });
    const csrf = await csrfOf(agent, `/recipes/${recipe.id}`);
    expect((await agent.get(`/recipes/${recipe.id}/edit`)).status).toBe(404);
    expect((await agent.post(`/recipes/${recipe.id}`).type('form').send({ _csrf: csrf, ...recipeForm({ title: 'Mine now' }) })).status).toBe(404);
    expect((await agent.post(`/recipes/${recipe.id}/delete`).type('form').send({ _csrf: csrf })).status).toBe(404);
    expect((await ctx.services.recipes.get(other.id, recipe.id)).title).toBe('Not yours');
  });

  it('when I delete my recipe with the button, then it is gone; without the CSRF token it stays', async () => {
    const { user, agent } = await signedIn();
    const recipe = await createRecipe(ctx, user.id);
    const page = await agent.get(`/recipes/${recipe.id}`);
    expect(page.text).toContain(`action="/recipes/${recipe.id}/delete"`);
    expect((await agent.post(`/recipes/${recipe.id}/delete`).type('form').send({})).status).toBe(403);
    expect((await agent.get(`/recipes/${recipe.id}`)).status).toBe(200);
    const res = await agent.post(`/recipes/${recipe.id}/delete`).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/recipes?mine=true');
    expect((await agent.get(`/recipes/${recipe.id}`)).status).toBe(404);
  });
});

describe('bookmark buttons and the bookmarks page', () => {
  it('when I press Bookmark, then the recipe page offers Remove bookmark and my bookmarks page lists it', async () => {
    const { agent } = await signedIn();
    const other = await createUser(ctx);
    const recipe = await createRecipe(ctx, other.id, { title: 'Bookmark me' });
    const page = await agent.get(`/recipes/${recipe.id}`);
    expect(page.text).toContain(`action="/recipes/${recipe.id}/bookmark"`);
    expect(page.text).toContain('>Bookmark<');
    const res = await agent.post(`/recipes/${recipe.id}/bookmark`).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/recipes/${recipe.id}`);
    const after = await agent.get(`/recipes/${recipe.id}`);
    expect(after.text).toContain(`action="/recipes/${recipe.id}/unbookmark"`);
    expect(after.text).toContain('Remove bookmark');
    const list = await agent.get('/bookmarks');
    expect(list.text).toContain('Bookmark me');
    // Pressing it twice (a second tab) changes nothing.
    expect((await agent.post(`/recipes/${recipe.id}/bookmark`).type('form').send({ _csrf: csrfFrom(page.text) })).status).toBe(303);
  });

  it('when I remove a bookmark from the bookmarks page, then I come back to it and it is gone', async () => {
    const { user, agent } = await signedIn();
    const recipe = await createRecipe(ctx, user.id, { title: 'Remove me' });
    await ctx.services.bookmarks.add(user.id, recipe.id);
    const page = await agent.get('/bookmarks');
    expect(page.text).toContain('Remove me');
    const res = await agent.post(`/recipes/${recipe.id}/unbookmark`).type('form').send({ _csrf: csrfFrom(page.text), return_to: '/bookmarks' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/bookmarks');
    expect((await agent.get('/bookmarks')).text).toContain('Nothing bookmarked yet');
  });

  it('when the bookmark form is posted without CSRF, then 403; with a foreign return_to, then it goes to the recipe instead', async () => {
    const { user, agent } = await signedIn();
    const recipe = await createRecipe(ctx, user.id);
    const csrf = await csrfOf(agent, `/recipes/${recipe.id}`);
    expect((await agent.post(`/recipes/${recipe.id}/bookmark`).type('form').send({})).status).toBe(403);
    expect((await ctx.services.bookmarks.list(user.id, {})).items).toHaveLength(0);
    const res = await agent.post(`/recipes/${recipe.id}/bookmark`).type('form').send({ _csrf: csrf, return_to: 'https://evil.example/' });
    expect(res.headers.location).toBe(`/recipes/${recipe.id}`);
  });

  it('when I try to bookmark someone else\u2019s private recipe, then 404', async () => {
    const { agent } = await signedIn();
    const other = await createUser(ctx);
    const secret = await createRecipe(ctx, other.id, { published: false });
    const csrf = await csrfOf(agent, '/recipes');
    expect((await agent.post(`/recipes/${secret.id}/bookmark`).type('form').send({ _csrf: csrf })).status).toBe(404);
  });

  it('when I have more bookmarks than fit a page, then a More link shows the rest', async () => {
    const { user, agent } = await signedIn();
    for (let i = 0; i < 21; i++) await ctx.services.bookmarks.add(user.id, (await createRecipe(ctx, user.id, { title: `Kept ${i}` })).id);
    const first = await agent.get('/bookmarks');
    const more = moreLink(first.text)!;
    expect(more).toMatch(/^\/bookmarks\?cursor=/);
    const second = await agent.get(more);
    expect(second.text).toContain('Kept 0');
    expect(moreLink(second.text)).toBeUndefined();
  });
});

describe('the whole story', () => {
  it('when I bookmark two recipes on the site and then link Alexa through the OAuth flow, then the API called with the linked token lists exactly those two, newest first', async () => {
    const { user, agent } = await signedIn();
    const other = await createUser(ctx);
    const [soup, pie] = [await createRecipe(ctx, other.id, { title: 'Story soup' }), await createRecipe(ctx, other.id, { title: 'Story pie' })];
    await createRecipe(ctx, other.id, { title: 'Story salad (not bookmarked)' });
    for (const recipe of [soup, pie]) {
      const page = await agent.get(`/recipes/${recipe.id}`);
      expect((await agent.post(`/recipes/${recipe.id}/bookmark`).type('form').send({ _csrf: csrfFrom(page.text) })).status).toBe(303);
    }
    // Alexa links the account: authorize, consent in the same browser session, code exchange (Basic).
    const alexa = new AlexaSimulator(ctx.app, await createAlexaClient(ctx), { scope: 'read' });
    const { access_token: token } = await alexa.link({ email: user.email }, agent);
    const res = await request(ctx.app).get('/api/bookmarks').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((b: { recipe_id: number; title: string }) => [b.recipe_id, b.title])).toEqual([
      [pie.id, 'Story pie'],
      [soup.id, 'Story soup'],
    ]);
    expect(res.body.next_cursor).toBeNull();
    const me = await request(ctx.app).get('/api/me').set('Authorization', `Bearer ${token}`);
    expect(me.body).toMatchObject({ id: user.id, email: user.email });
    // A read-only link cannot write.
    expect((await request(ctx.app).put(`/api/bookmarks/${soup.id}`).set('Authorization', `Bearer ${token}`)).status).toBe(403);
  });
});
