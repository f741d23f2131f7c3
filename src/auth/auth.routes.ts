import { Router } from 'express';
import { AppError, ValidationError } from '../lib/errors';
import { noStore } from '../http/security-headers';
import { AccountLifecycleService } from './account-lifecycle.service';
import { AuthService } from './auth.service';
import { DEVICE_COOKIE, readCookie } from './device-cookie';
import { safeReturnTo } from './return-to';
import { signIn, signOut } from './session';

/** Sign-up, log-in and log-out pages. Expects the session, body parser and CSRF middleware. */
export function authRoutes(auth: AuthService, lifecycle: AccountLifecycleService, opts: { secureCookies: boolean }): Router {
  const router = Router();
  router.use(['/login', '/signup', '/logout'], noStore);

  router.get('/login', (req, res) => {
    const returnTo = safeReturnTo(req.query.return_to);
    if (req.user) return res.redirect(303, returnTo);
    res.render('login', { title: 'Sign in', returnTo, email: '', error: undefined, fromOAuth: returnTo.startsWith('/oauth/') });
  });

  router.post('/login', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const returnTo = safeReturnTo(body.return_to);
    try {
      const { user, deviceCookie } = await auth.login({
        email: body.email,
        password: body.password,
        address: req.ip ?? 'unknown',
        deviceCookie: readCookie(req.headers.cookie, DEVICE_COOKIE),
      });
      await signIn(req, user);
      // Only the log-in form needs it (Path=/login); kept across log-outs, which is its point.
      res.cookie(DEVICE_COOKIE, deviceCookie, {
        httpOnly: true,
        sameSite: 'lax',
        secure: opts.secureCookies,
        path: '/login',
        maxAge: auth.deviceCookieTtlSeconds * 1000,
      });
      res.redirect(303, returnTo);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 && err.status !== 503) throw err;
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      res.status(err.status).render('login', {
        title: 'Sign in',
        returnTo,
        email: typeof body.email === 'string' ? body.email.slice(0, 254) : '',
        error: err.message,
        fromOAuth: returnTo.startsWith('/oauth/'),
      });
    }
  });

  router.get('/signup', (req, res) => {
    const returnTo = safeReturnTo(req.query.return_to);
    if (req.user) return res.redirect(303, returnTo);
    res.render('signup', { title: 'Create your account', returnTo, values: {}, errors: {} });
  });

  router.post('/signup', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const returnTo = safeReturnTo(body.return_to);
    try {
      const outcome = await lifecycle.signUp({ email: body.email, name: body.name, password: body.password }, { address: req.ip ?? 'unknown' }, returnTo);
      if (outcome.kind === 'check-email') {
        // REQUIRE_EMAIL_VERIFICATION: the same answer for a new and a taken address.
        return res.render('message', {
          title: 'Check your email',
          paragraphs: [
            `We have sent a mail to ${String(body.email).trim()}. Open the link in it to confirm your address, then sign in.`,
            'No mail after a few minutes? Check your spam folder.',
          ],
          links: [{ href: `/login?return_to=${encodeURIComponent(returnTo)}`, label: 'Go to sign in' }],
        });
      }
      await signIn(req, outcome.user);
      res.redirect(303, returnTo);
    } catch (err) {
      // Validation, "too many attempts" (429) and "busy" (503) re-render the form; anything else
      // is the error handler's.
      if (!(err instanceof ValidationError) && !(err instanceof AppError && (err.status === 429 || err.status === 503))) throw err;
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      const values = {
        email: typeof body.email === 'string' ? body.email.slice(0, 254) : '',
        name: typeof body.name === 'string' ? body.name.slice(0, 100) : '',
      };
      res.status(err.status).render('signup', {
        title: 'Create your account',
        returnTo,
        values,
        errors: err instanceof ValidationError ? err.fields : { form: err.message },
      });
    }
  });

  router.post('/logout', async (req, res) => {
    await signOut(req, res);
    res.redirect(303, '/login');
  });

  return router;
}
