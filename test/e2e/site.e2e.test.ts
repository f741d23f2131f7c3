import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { browserFixture, BrowserSession, describeInBrowser, NO_PROBLEMS, VIEWPORT_NAMES, ViewportName } from '../support/browser';
import { createUser, TEST_PASSWORD } from '../support/context';
import { createRecipe, uniqueWord } from '../support/recipes';

/** A smoke run of the site's own pages in a real browser: recipes, bookmarks, connected apps, admin clients. */
jest.setTimeout(90_000);

describeInBrowser('the site in a real browser', () => {
  const fixture = browserFixture();

  /** A new user signed in through the login page, at the home page. */
  async function signedIn(viewport: ViewportName, opts: { isAdmin?: boolean } = {}) {
    const user = await createUser(fixture.ctx, { name: 'Site Cook', isAdmin: opts.isAdmin });
    const session = await fixture.open(viewport);
    await session.page.goto('/login');
    await session.signIn(user.email, TEST_PASSWORD);
    await session.page.waitForURL((u) => u.pathname === '/');
    return { user, session };
  }

  const heading = (session: BrowserSession) => session.page.getByRole('heading', { level: 1 }).textContent();
  const nav = (session: BrowserSession, name: string) => session.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();

  describe.each(VIEWPORT_NAMES)('at %s size', (viewport) => {
    it('when a user searches recipes and bookmarks one, then the button turns into Remove bookmark and the recipe is on the bookmarks page', async () => {
      const { user, session } = await signedIn(viewport);
      const { page } = session;
      const word = uniqueWord();
      const recipe = await createRecipe(fixture.ctx, user.id, { title: `Lemon ${word} tart`, summary: 'Sharp, sweet and short.' });
      await createRecipe(fixture.ctx, user.id, { title: `Plain ${uniqueWord()} bread` });

      await nav(session, 'Recipes');
      await page.getByLabel('Search title, summary and ingredients').fill(word);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.waitForURL((u) => u.searchParams.get('q') === word);
      const results = page.getByRole('region', { name: 'Results' }).getByRole('listitem');
      await expect(results.allTextContents()).resolves.toEqual([expect.stringContaining(recipe.title)]);
      expect(await session.screenshotAndAudit('recipes')).toEqual([]);

      await page.getByRole('link', { name: recipe.title }).click();
      await page.waitForURL((u) => u.pathname === `/recipes/${recipe.id}`);
      await page.getByRole('button', { name: 'Bookmark', exact: true }).click();
      await page.getByRole('button', { name: 'Remove bookmark' }).waitFor();
      expect(await session.screenshotAndAudit('recipe')).toEqual([]);

      await nav(session, 'Bookmarks');
      await expect(heading(session)).resolves.toBe('Your bookmarks');
      await expect(page.getByRole('list').getByRole('link').allTextContents()).resolves.toEqual([recipe.title]);
      expect(await session.screenshotAndAudit('bookmarks')).toEqual([]);

      await page.getByRole('link', { name: recipe.title }).click();
      await page.getByRole('button', { name: 'Remove bookmark' }).click();
      await page.getByRole('button', { name: 'Bookmark', exact: true }).waitFor();
      await nav(session, 'Bookmarks');
      await expect(page.locator('main').textContent()).resolves.toContain('Nothing bookmarked yet');
      expect(session.problems()).toEqual(NO_PROBLEMS);
    });

    it('when a user has linked Alexa, then Connected apps lists it and Revoke unlinks it', async () => {
      const { user, session } = await signedIn(viewport);
      const { page } = session;
      const alexa = new AlexaSimulator(fixture.ctx.app, await createAlexaClient(fixture.ctx));
      await alexa.link(user);

      await nav(session, 'Connected apps');
      await expect(heading(session)).resolves.toBe('Connected apps');
      await expect(page.locator('main').textContent()).resolves.toContain('Recipe Reader for Alexa');
      expect(await session.screenshotAndAudit('connections')).toEqual([]);

      await page.getByRole('button', { name: 'Revoke Recipe Reader for Alexa' }).click();
      await expect(page.getByRole('status').textContent()).resolves.toContain('The app was disconnected');
      await expect(page.locator('main').textContent()).resolves.toContain('No apps are connected');
      expect((await alexa.refresh()).body.error).toBe('invalid_grant');
      expect(session.problems()).toEqual(NO_PROBLEMS);
    });

    it('when an admin creates a client, then its secret is shown once and the client is listed', async () => {
      const { session } = await signedIn(viewport, { isAdmin: true });
      const { page } = session;
      const name = `Kitchen ${uniqueWord(6)}`;

      await nav(session, 'Clients');
      await expect(heading(session)).resolves.toBe('OAuth clients');
      // Other tests' clients fill the list: keep the picture to the screen.
      expect(await session.screenshotAndAudit('admin-clients', { fullPage: false })).toEqual([]);

      await page.getByRole('link', { name: 'New client' }).click();
      await page.getByLabel('Name').fill(name);
      await page.getByLabel('Redirect URIs').fill('https://kitchen.example/cb');
      await page.getByLabel('read', { exact: true }).check();
      expect(await session.screenshotAndAudit('admin-client-form')).toEqual([]);
      await page.getByRole('button', { name: 'Create client' }).click();

      const secret = await page.locator('#client-secret').textContent();
      const clientId = await page.locator('#client-id').textContent();
      expect(secret).toMatch(/^\S{40,}$/);
      expect(await session.screenshotAndAudit('admin-client-secret')).toEqual([]);

      await page.getByRole('link', { name: 'Back to clients' }).click();
      const listed = page.getByRole('listitem').filter({ hasText: name });
      await expect(listed.textContent()).resolves.toContain(clientId!);
      await expect(page.locator('main').textContent()).resolves.not.toContain(secret!);
      expect(await fixture.ctx.services.clients.authenticate(clientId!, secret!)).toBeDefined();
      expect(session.problems()).toEqual(NO_PROBLEMS);
    });
  });
});
