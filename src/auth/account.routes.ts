import { Request, RequestHandler, Response, Router } from 'express';
import { AppError, ValidationError } from '../lib/errors';
import { AccountLifecycleService, LinkError } from './account-lifecycle.service';
import { AccountService } from './account.service';
import { GrantService } from '../oauth/grants/grant.service';
import { safeReturnTo } from './return-to';
import { requireLogin, signIn, signOut } from './session';

const body = (req: Request) => req.body as Record<string, unknown>;
/** A text field as the form sent it, for re-rendering (never an array or object). */
const field = (v: unknown, max = 254) => (typeof v === 'string' ? v.slice(0, max) : '');

/** Errors a form shows on itself (invalid input, too many attempts, busy); anything else is the error handler's. */
function isFormError(err: unknown): err is AppError {
  return err instanceof ValidationError || (err instanceof AppError && (err.status === 429 || err.status === 503));
}

function formErrors(err: AppError): Record<string, string> {
  return err instanceof ValidationError && Object.keys(err.fields).length ? err.fields : { form: err.message };
}

function renderFormError(res: Response, err: AppError, view: string, locals: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).render(view, { ...locals, errors: formErrors(err) });
}

/**
 * The account pages: forgot and reset password, address confirmation, and (signed in) /account
 * with password, email and deletion. Every form carries the CSRF token (the csrf middleware runs
 * before), every answer after a POST is a 303 or a page, and a mailed link's GET only shows a
 * form: spending it takes a POST, so mail scanners that open links spend nothing.
 */
export function accountRoutes(deps: { lifecycle: AccountLifecycleService; accounts: AccountService; grants: GrantService }): Router {
  const { lifecycle, accounts, grants } = deps;
  const router = Router();

  /** A link that cannot be used: what happened, and the way to ask again. */
  function linkProblem(req: Request, res: Response, err: LinkError, kind: 'reset' | 'verify' | 'email'): void {
    const again =
      kind === 'reset'
        ? { href: `/forgot-password?return_to=${encodeURIComponent(err.returnTo)}`, label: 'Send me a new link' }
        : kind === 'verify'
          ? req.user
            ? { href: '/account', label: 'Go to your account to send a new link' }
            : { href: `/login?return_to=${encodeURIComponent('/account')}`, label: 'Sign in to send a new link' }
          : { href: '/account/email', label: 'Ask for a new link' };
    res.status(400).render('message', {
      title: err.problem === 'expired' ? 'This link has expired' : err.problem === 'used' ? 'This link was already used' : 'This link cannot be used',
      paragraphs: [err.message, ...(err.problem === 'taken' ? [] : ['Nothing was changed.'])],
      primary: again,
      alert: true,
    });
  }

  // ---- Forgot password -----------------------------------------------------------------------

  router.get('/forgot-password', (req, res) => {
    res.render('forgot-password', { title: 'Reset your password', returnTo: safeReturnTo(req.query.return_to), email: field(req.query.email), errors: {} });
  });

  router.post('/forgot-password', async (req, res) => {
    const returnTo = safeReturnTo(body(req).return_to);
    try {
      await lifecycle.requestPasswordReset({ email: body(req).email, returnTo, address: req.ip ?? 'unknown' });
    } catch (err) {
      if (!isFormError(err)) throw err;
      return renderFormError(res, err, 'forgot-password', { title: 'Reset your password', returnTo, email: field(body(req).email) });
    }
    // The same page whether or not the address has an account.
    res.render('message', {
      title: 'Check your email',
      paragraphs: [
        `If ${field(body(req).email)} belongs to an account, we have sent it a link to choose a new password. The link works once, for 30 minutes.`,
        'No mail after a few minutes? Check your spam folder, or make sure you typed the address you signed up with.',
      ],
      links: [
        { href: `/forgot-password?return_to=${encodeURIComponent(returnTo)}`, label: 'Send another link' },
        { href: `/login?return_to=${encodeURIComponent(returnTo)}`, label: 'Back to sign in' },
      ],
    });
  });

  router.get('/reset-password', async (req, res) => {
    try {
      const { user } = await lifecycle.checkResetLink(req.query.token);
      res.render('reset-password', { title: 'Choose a new password', token: req.query.token, email: user.email, errors: {} });
    } catch (err) {
      if (err instanceof LinkError) return linkProblem(req, res, err, 'reset');
      throw err;
    }
  });

  router.post('/reset-password', async (req, res) => {
    const token = body(req).token;
    try {
      const { user, returnTo } = await lifecycle.resetPassword({ token, password: body(req).password });
      await signIn(req, user);
      res.redirect(303, `/password-reset-done?return_to=${encodeURIComponent(returnTo)}`);
    } catch (err) {
      if (err instanceof LinkError) return linkProblem(req, res, err, 'reset');
      if (!isFormError(err)) throw err;
      const { user } = await lifecycle.checkResetLink(token).catch(() => ({ user: undefined }));
      renderFormError(res, err, 'reset-password', { title: 'Choose a new password', token: typeof token === 'string' ? token : '', email: user?.email ?? '' });
    }
  });

  router.get('/password-reset-done', requireLogin, async (req, res) => {
    const returnTo = safeReturnTo(req.query.return_to);
    const connections = await grants.listForUser(req.user!.id);
    res.render('reset-done', { title: 'Your password is changed', returnTo, connections, fromOAuth: returnTo.startsWith('/oauth/') });
  });

  // ---- Address confirmation -------------------------------------------------------------------

  router.get('/verify-email', async (req, res) => {
    try {
      const { user } = await lifecycle.checkVerificationLink(req.query.token);
      res.render('confirm-link', { title: 'Confirm your email', action: '/verify-email', token: req.query.token, text: `Confirm that ${user.email} is your address.`, button: 'Confirm my email' });
    } catch (err) {
      if (err instanceof LinkError) return linkProblem(req, res, err, 'verify');
      throw err;
    }
  });

  router.post('/verify-email', async (req, res) => {
    try {
      const { user, returnTo } = await lifecycle.confirmVerification(body(req).token);
      const signedIn = req.user?.id === user.id;
      res.render('message', {
        title: 'Email confirmed',
        paragraphs: [`Thank you: ${user.email} is confirmed.`],
        primary: signedIn ? { href: returnTo, label: 'Continue' } : { href: `/login?return_to=${encodeURIComponent(returnTo)}`, label: 'Sign in to continue' },
        notice: true,
      });
    } catch (err) {
      if (err instanceof LinkError) return linkProblem(req, res, err, 'verify');
      throw err;
    }
  });

  router.post('/account/verify-email', requireLogin, async (req, res) => {
    const returnTo = safeReturnTo(body(req).return_to, '/account');
    try {
      await lifecycle.sendVerification(req.user!, returnTo);
    } catch (err) {
      if (!isFormError(err)) throw err;
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      return res.status(err.status).render('message', { title: 'Confirm your email', paragraphs: [err.message], primary: { href: '/account', label: 'Back to your account' }, alert: true });
    }
    res.render('message', {
      title: 'Check your email',
      paragraphs: [`We have sent a confirmation link to ${req.user!.email}. It works once, for 24 hours.`],
      links: [{ href: '/account', label: 'Back to your account' }],
    });
  });

  // ---- The account page -----------------------------------------------------------------------

  router.get('/account', requireLogin, async (req, res) => {
    const connections = await grants.listForUser(req.user!.id);
    const done = typeof req.query.done === 'string' ? req.query.done : '';
    const notices: Record<string, string> = {
      password: 'Your password is changed. Every other device was signed out; connected apps stay connected.',
      email: 'Your address is changed.',
    };
    res.render('account', {
      title: 'Your account',
      connections,
      notice: notices[done],
      mustVerify: lifecycle.mustVerify(req.user!),
    });
  });

  router.get('/account/password', requireLogin, (_req, res) => {
    res.render('account-password', { title: 'Change your password', errors: {} });
  });

  router.post('/account/password', requireLogin, async (req, res) => {
    try {
      await lifecycle.changePassword(req.user!, { currentPassword: body(req).current_password, password: body(req).password }, req.sessionID);
    } catch (err) {
      if (!isFormError(err)) throw err;
      return renderFormError(res, err, 'account-password', { title: 'Change your password' });
    }
    // A new session id too: whatever knew the old one (and its CSRF tokens) is out.
    await signIn(req, req.user!);
    res.redirect(303, '/account?done=password');
  });

  router.get('/account/email', requireLogin, (_req, res) => {
    res.render('account-email', { title: 'Change your email', email: '', errors: {} });
  });

  router.post('/account/email', requireLogin, async (req, res) => {
    try {
      const { email } = await lifecycle.requestEmailChange(req.user!, { currentPassword: body(req).current_password, email: body(req).email });
      res.render('message', {
        title: 'Check your new address',
        paragraphs: [
          `We have sent a link to ${email}. Your address changes when you open it (it works once, for 24 hours); until then you keep signing in with ${req.user!.email}.`,
          `We have also told ${req.user!.email} about the change.`,
        ],
        links: [{ href: '/account', label: 'Back to your account' }],
      });
    } catch (err) {
      if (!isFormError(err)) throw err;
      renderFormError(res, err, 'account-email', { title: 'Change your email', email: field(body(req).email) });
    }
  });

  router.get('/account/email/confirm', async (req, res) => {
    try {
      const { email } = await lifecycle.checkEmailChangeLink(req.query.token);
      res.render('confirm-link', { title: 'Confirm your new email', action: '/account/email/confirm', token: req.query.token, text: `Use ${email} for your Linkbridge Recipes account from now on.`, button: 'Use this address' });
    } catch (err) {
      if (err instanceof LinkError) return linkProblem(req, res, err, 'email');
      throw err;
    }
  });

  router.post('/account/email/confirm', async (req, res) => {
    try {
      const { user } = await lifecycle.confirmEmailChange(body(req).token);
      res.render('message', {
        title: 'Your address is changed',
        paragraphs: [`From now on you sign in with ${user.email}.`],
        primary: req.user ? { href: '/account', label: 'Go to your account' } : { href: '/login', label: 'Sign in' },
        notice: true,
      });
    } catch (err) {
      if (err instanceof LinkError) return linkProblem(req, res, err, 'email');
      throw err;
    }
  });

  // ---- Deletion -------------------------------------------------------------------------------

  async function renderDelete(req: Request, res: Response, status = 200, errors: Record<string, string> = {}): Promise<void> {
    const summary = await accounts.deletionSummary(req.user!.id);
    res.status(status).render('account-delete', { title: 'Delete your account', ...summary, errors });
  }

  router.get('/account/delete', requireLogin, (req, res) => renderDelete(req, res));

  router.post('/account/delete', requireLogin, async (req, res) => {
    try {
      await lifecycle.deleteOwnAccount(req.user!, body(req).current_password);
    } catch (err) {
      if (!isFormError(err)) throw err;
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      return renderDelete(req, res, err.status, formErrors(err));
    }
    await signOut(req, res);
    res.redirect(303, '/account/deleted');
  });

  router.get('/account/deleted', (req, res) => {
    if (req.user) return res.redirect(303, '/account');
    res.render('message', {
      title: 'Your account is deleted',
      paragraphs: ['Your account, recipes and bookmarks are gone, and every connected app was disconnected. You are welcome back any time.'],
      links: [{ href: '/signup', label: 'Create a new account' }],
      notice: true,
    });
  });

  return router;
}

/**
 * With REQUIRE_EMAIL_VERIFICATION on, an account whose address is not confirmed cannot complete
 * OAuth consent: the authorization endpoint (GET and the decision POST) answers with a page that
 * explains why and offers to mail the link, which brings the user back to the same request.
 * Mounted in front of the authorization routes, so they need not know about it.
 */
export function requireVerifiedForConsent(lifecycle: AccountLifecycleService): RequestHandler {
  return (req, res, next) => {
    if (!req.user || !lifecycle.mustVerify(req.user)) return next();
    res.status(403).render('verify-first', {
      title: 'Confirm your email first',
      email: req.user.email,
      returnTo: req.method === 'GET' ? safeReturnTo(req.originalUrl) : '/account',
    });
  };
}
