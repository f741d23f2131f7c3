import { requestCookie } from '../http/cookies';
import { Request, Response, Router } from 'express';
import { DEVICE_COOKIE, readCookie as readDeviceCookie } from '../auth/device-cookie';
import { safeReturnTo } from '../auth/return-to';
import { requireLogin, signIn } from '../auth/session';
import { idParam } from '../http/params';
import { AppError } from '../lib/errors';
import { AuthorizeService } from '../oauth/authorize/authorize.service';
import { buildRedirect, errorRedirect, RedirectableError } from '../oauth/authorize/redirect';
import { CallbackOutcome, IdpLoginError, IdpLoginService, ROUND_TRIP_TTL_SECONDS } from './idp-login.service';
import { IdentityProvider } from './idp.repository';
import { ProviderService } from './providers.service';
import { callbackUrl } from './upstream';

const tripCookie = (secure: boolean) => (secure ? '__Host-lb.idp' : 'lb.idp');
const pendingCookie = (secure: boolean) => (secure ? '__Host-lb.idp-link' : 'lb.idp-link');
const SEALED = /^[A-Za-z0-9._-]{1,4000}$/;


/**
 * Sign-in through another provider:
 * - GET  /login/idp/:name/start     sealed round-trip cookie (state, nonce, PKCE verifier, return_to), 303 upstream
 * - GET  /login/idp/:name/callback  the upstream's answer: sign in, link, ask for the local password, or a failure page
 * - POST /login/idp/link            the local account's password proves it: link and sign in
 * - POST /login/idp/cancel          back to the OAuth client (Alexa) with error=access_denied
 * - GET  /account/identities        the user's linked sign-ins; POST .../:id/remove
 */
export function idpRoutes(deps: {
  idpLogin: IdpLoginService;
  idps: ProviderService;
  authorize: AuthorizeService;
  publicUrl: string;
  secureCookies: boolean;
  passwordLogin: boolean;
  deviceCookieTtlSeconds: number;
}): Router {
  const router = Router();
  const { idpLogin } = deps;
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, secure: deps.secureCookies, path: '/', maxAge: ROUND_TRIP_TTL_SECONDS * 1000 };
  const clear = (res: Response, name: string) => res.clearCookie(name, { path: '/', secure: deps.secureCookies, httpOnly: true, sameSite: 'lax' });

  const failurePage = (res: Response, err: IdpLoginError) => {
    const returnTo = err.context.returnTo ?? '/';
    const p = err.context.provider;
    const retryable = p && err.code !== 'account_disabled' && err.code !== 'unknown_provider';
    const titles: Record<string, string> = {
      access_denied: 'Sign-in cancelled',
      upstream_unavailable: 'Could not reach the provider',
      upstream_invalid: 'Sign-in failed',
      invalid_state: 'This sign-in has expired',
      account_exists: 'You already have an account',
      identity_taken: 'Already linked elsewhere',
      account_disabled: 'Account disabled',
      no_account: 'No account',
      unknown_provider: 'Not found',
    };
    res.status(err.status).render('idp/error', {
      title: titles[err.code] ?? 'Sign-in failed',
      message: err.message,
      tryAgainUrl: retryable ? `/login/idp/${encodeURIComponent(p.name)}/start?return_to=${encodeURIComponent(returnTo)}` : undefined,
      passwordLoginUrl: deps.passwordLogin ? `/login?return_to=${encodeURIComponent(returnTo)}` : undefined,
      // The way back to the app that sent the user here, saying the user did not sign in.
      cancelReturnTo: returnTo.startsWith('/oauth/authorize?') ? returnTo : undefined,
    });
  };
  const handle = async (res: Response, work: () => Promise<void>) => {
    try {
      await work();
    } catch (err) {
      if (err instanceof IdpLoginError) return failurePage(res, err);
      throw err;
    }
  };

  router.get('/login/idp/:name/start', async (req, res) => {
    await handle(res, async () => {
      const p = await idpLogin.provider(req.params.name);
      const returnTo = safeReturnTo(req.query.return_to);
      const link = req.query.intent === 'link';
      if (link && !req.user) return void res.redirect(303, `/login?return_to=${encodeURIComponent('/account/identities')}`);
      if (!link && req.user) return void res.redirect(303, returnTo);
      const { location, cookie } = await idpLogin.start(p, { returnTo, linkUserId: link ? req.user!.id : undefined });
      res.cookie(tripCookie(deps.secureCookies), cookie, cookieOptions);
      res.redirect(303, location);
    });
  });

  router.get('/login/idp/:name/callback', async (req, res) => {
    // Single use: whatever happens next, this browser's round trip is over.
    const sealed = requestCookie(req, tripCookie(deps.secureCookies), SEALED);
    clear(res, tripCookie(deps.secureCookies));
    await handle(res, async () => {
      const p = await idpLogin.provider(req.params.name);
      const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
      const outcome: CallbackOutcome = await idpLogin.callback(p, sealed, new URL(callbackUrl(deps.publicUrl, p.name) + query), req.user?.id);
      if (outcome.kind === 'prove-password') {
        res.cookie(pendingCookie(deps.secureCookies), outcome.pending, cookieOptions);
        return void res.render('idp/prove', proveLocals(outcome.provider, outcome.email, outcome.returnTo));
      }
      if (outcome.kind === 'linked') return void res.redirect(303, '/account/identities?linked=1');
      await signIn(req, outcome.user);
      res.redirect(303, outcome.returnTo);
    });
  });

  const proveLocals = (p: Pick<IdentityProvider, 'displayName'>, email: string, returnTo: string, error?: string) => ({
    title: `Link ${p.displayName}`,
    providerName: p.displayName,
    email,
    returnTo,
    error,
  });

  router.post('/login/idp/link', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const sealed = requestCookie(req, pendingCookie(deps.secureCookies), SEALED);
    await handle(res, async () => {
      try {
        const { user, returnTo, deviceCookie } = await idpLogin.proveAndLink(sealed, {
          password: body.password,
          address: req.ip ?? 'unknown',
          deviceCookie: readDeviceCookie(req.headers.cookie, DEVICE_COOKIE),
        });
        clear(res, pendingCookie(deps.secureCookies));
        await signIn(req, user);
        res.cookie(DEVICE_COOKIE, deviceCookie, { httpOnly: true, sameSite: 'lax', secure: deps.secureCookies, path: '/login', maxAge: deps.deviceCookieTtlSeconds * 1000 });
        res.redirect(303, returnTo);
      } catch (err) {
        // A wrong password (400) or too many attempts (429): the same page again, with the message.
        if (!(err instanceof AppError) || err instanceof IdpLoginError || (err.status !== 400 && err.status !== 429)) throw err;
        const view = await idpLogin.pendingView(sealed);
        if (!view) throw new IdpLoginError(400, 'invalid_state', 'This sign-in has expired. Please start again.');
        for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
        res.status(err.status).render('idp/prove', proveLocals(view.provider, view.email, view.returnTo, err.message));
      }
    });
  });

  /** Back to the OAuth client with access_denied: only for a request whose client and redirect URI are proven. */
  router.post('/login/idp/cancel', async (req, res) => {
    const returnTo = safeReturnTo((req.body as Record<string, unknown>).return_to);
    if (!returnTo.startsWith('/oauth/authorize?')) return res.redirect(303, '/login');
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(returnTo.slice(returnTo.indexOf('?') + 1))) {
      const prev = query[k];
      query[k] = prev === undefined ? v : ([] as string[]).concat(prev, v); // repeated: refused by validate
    }
    try {
      const { request } = await deps.authorize.validate(query);
      res.redirect(302, buildRedirect(request.redirectUri, { error: 'access_denied', error_description: 'The user did not sign in.', state: request.state }, request.responseMode ?? 'query'));
    } catch (err) {
      if (err instanceof RedirectableError) return res.redirect(302, errorRedirect(err));
      throw err;
    }
  });

  router.get('/account/identities', requireLogin, async (req, res) => {
    const user = req.user!;
    const { identities, hasPassword } = await idpLogin.identities(user);
    const linked = new Set(identities.map((i) => i.providerId));
    const linkable = (await deps.idps.enabled()).filter((p) => !linked.has(p.id)).map((p) => ({ name: p.name, displayName: p.displayName }));
    const notice = req.query.linked === '1' ? 'The sign-in was linked to your account.' : req.query.removed === '1' ? 'The sign-in was removed from your account.' : undefined;
    res.render('idp/identities', { title: 'Linked sign-ins', identities, hasPassword, linkable, notice, error: undefined });
  });

  router.post('/account/identities/:id/remove', requireLogin, async (req, res) => {
    const id = idParam(req.params.id);
    try {
      await idpLogin.removeIdentity(req.user!.id, id);
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 409) throw err;
      const { identities, hasPassword } = await idpLogin.identities(req.user!);
      return res.status(409).render('idp/identities', { title: 'Linked sign-ins', identities, hasPassword, linkable: [], notice: undefined, error: err.message });
    }
    res.redirect(303, '/account/identities?removed=1');
  });

  return router;
}
