import express from 'express';
import request from 'supertest';
import { errorHandler } from '../../src/http/error-handler';
import { AppError, oauthErrors } from '../../src/lib/errors';
import { VIEWS_DIR } from '../../src/lib/paths';
import { createTestContext, createUser, csrfFrom, signInAs, TEST_PASSWORD, TestContext, uniqueEmail, webAgent } from '../support/context';

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

/** RFC 9110 §15.5.2: a 401 must come with a WWW-Authenticate challenge; a form error is not one. */
const expectFormError = (res: request.Response) => {
  expect(res.status).toBe(400);
  expect(res.headers['www-authenticate']).toBeUndefined();
  expect(res.headers['content-type']).toMatch(/^text\/html/);
};

describe('form pages that re-render with an error', () => {
  it('when a sign-in fails in any way (wrong password, unknown email, disabled user, missing or repeated fields), then the form is re-rendered with 400 and no HTTP challenge', async () => {
    const user = await createUser(ctx);
    const disabled = await createUser(ctx);
    await ctx.services.accounts.disableUser(disabled.id);
    for (const [email, password] of [
      [user.email, 'not the password'],
      [uniqueEmail('nobody'), 'not the password'],
      [disabled.email, TEST_PASSWORD],
      ['', ''],
    ]) {
      const res = await signInAs(webAgent(ctx.app), email, password);
      expectFormError(res);
      expect(res.text).toContain('<form method="post" action="/login"');
    }
    const agent = webAgent(ctx.app);
    const page = await agent.get('/login');
    expectFormError(await agent.post('/login').type('form').send(`_csrf=${csrfFrom(page.text)}&email=a@b.c&email=d@e.f&password=x`));
  });

  it('when a sign-up fails validation or the email is taken, then the form is re-rendered with 400 and no HTTP challenge', async () => {
    const taken = await createUser(ctx);
    const agent = webAgent(ctx.app);
    for (const body of [{ email: 'not an email', password: TEST_PASSWORD }, { email: uniqueEmail(), password: 'short' }, { email: taken.email, password: TEST_PASSWORD }]) {
      const page = await agent.get('/signup');
      const res = await agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), ...body });
      expectFormError(res);
      expect(res.text).toContain('<form method="post" action="/signup"');
    }
  });
});

describe('the error handler on browser pages', () => {
  const appThrowing = (err: AppError) => {
    const app = express();
    app.set('view engine', 'ejs');
    app.set('views', VIEWS_DIR);
    app.get('/some/page', () => {
      throw err;
    });
    app.get('/api/thing', () => {
      throw err;
    });
    app.use(errorHandler);
    return app;
  };

  it('when a 401 (with or without a challenge) reaches a browser page, then the page answers 400 without WWW-Authenticate, so no credential dialog opens', async () => {
    for (const err of [new AppError(401, 'unauthorized', 'Sign in first.'), oauthErrors.invalidClient()]) {
      const res = await request(appThrowing(err)).get('/some/page');
      expectFormError(res);
      expect(res.text).toContain(err.message);
    }
  });

  it('when a 401 reaches a JSON endpoint, then it stays 401 with its challenge', async () => {
    const res = await request(appThrowing(oauthErrors.invalidClient())).get('/api/thing');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Basic /);
  });
});
