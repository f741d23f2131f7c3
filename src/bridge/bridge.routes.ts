import express, { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { createHash } from 'node:crypto';
import { loginUrlFor } from '../auth/return-to';
import { requireLogin } from '../auth/session';
import { rejectNulBytes } from '../http/params';
import { contentSecurityPolicy, noStore } from '../http/security-headers';
import { AppError, isDatabaseUnavailable, oauthErrors } from '../lib/errors';
import { logger } from '../lib/logger';
import { errorRedirect, RedirectableError } from '../oauth/authorize/redirect';
import { authenticateClient, flatBody } from '../oauth/clients/client-auth';
import { ClientService } from '../oauth/clients/client.service';
import { measureTokenRequest } from '../oauth/token/token-metrics';
import { Metrics } from '../metrics/metrics';
import { BridgeService } from './bridge.service';

const TX_COOKIE = 'lb_bridge_tx';

/**
 * The only script we serve: it moves an implicit-only upstream's fragment into the form and posts
 * it, after taking it out of the address bar and history. Allowed by its hash alone.
 */
const FRAGMENT_SCRIPT =
  "var f=document.getElementById('fragment');f.value=location.hash.slice(1);history.replaceState(null,'',location.pathname);if(f.value)document.getElementById('finish').submit();else document.getElementById('empty').hidden=false;";
const FRAGMENT_SCRIPT_HASH = `'sha256-${createHash('sha256').update(FRAGMENT_SCRIPT).digest('base64')}'`;
const NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;

function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      const v = part.slice(i + 1).trim();
      return /^[A-Za-z0-9_-]{1,200}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}

/**
 * POST /bridge/<name>/token: JSON answers (RFC 6749 §5.1, §5.2), no session, form-encoded only,
 * client authentication as at /oauth/token (Basic or body, never both). Mounted before the
 * browser router, and it answers its own errors as JSON: a 5xx here keeps Alexa's link (a
 * transient upstream failure is 503), only invalid_grant unlinks.
 */
export function bridgeTokenRoutes(deps: { bridges: BridgeService; clients: ClientService; metrics: Metrics }): Router {
  const router = Router();
  const form = [express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }), rejectNulBytes];
  const path = '/bridge/:name/token';

  const json = (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let e: AppError;
    if (err instanceof AppError) e = err;
    else if ((err as { status?: number })?.status && (err as { status: number }).status < 500) e = oauthErrors.invalidRequest('The request body is not valid.');
    else {
      logger.error({ err, reqId: req.id }, isDatabaseUnavailable(err) ? 'bridge token: database unavailable' : 'bridge token: unexpected error');
      e = new AppError(isDatabaseUnavailable(err) ? 503 : 500, 'server_error', 'The server could not complete the request.');
    }
    if (e.status >= 500 && e.cause) logger.error({ err: e.cause, reqId: req.id }, e.message);
    for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    if (e.status === 503 && !res.getHeader('Retry-After')) res.setHeader('Retry-After', '5');
    res.setHeader('Cache-Control', 'no-store');
    const code = e.status >= 500 ? (e.status === 503 ? 'temporarily_unavailable' : 'server_error') : e.code;
    res.status(e.status).json({ error: code, error_description: e.message });
  };

  router.use(path, noStore);
  router.post(
    path,
    (req, _res, next) => {
      if (!req.is('application/x-www-form-urlencoded')) throw oauthErrors.invalidRequest('The token request must be application/x-www-form-urlencoded.');
      next();
    },
    ...form,
    async (req, res) => {
      let grantType = 'other';
      // Counted like /oauth/token (endpoint="bridge"), client authentication failures included.
      const answer = await measureTokenRequest(deps.metrics, 'bridge', () => grantType, async () => {
        const name = String(req.params.name);
        const bridge = NAME.test(name) ? await deps.bridges.findByName(name) : undefined;
        const params = flatBody(req);
        if (params.grant_type === 'authorization_code' || params.grant_type === 'refresh_token') grantType = params.grant_type;
        const client = await authenticateClient(req, params, deps.clients);
        // Each bridge is its own authorization server with one client: any other is unknown here.
        if (!bridge || bridge.clientId !== client.id) throw oauthErrors.invalidClient();
        return deps.bridges.token(bridge, client, params);
      });
      res.status(200).json(answer);
    },
  );
  router.all(path, (req, res) => {
    res.setHeader('Allow', 'POST');
    res.status(405).json({ error: 'invalid_request', error_description: 'Use POST.' });
  });
  router.use(path, json);
  return router;
}

/**
 * GET /bridge/<name>/authorize (Alexa's authorization URI) and GET /bridge/<name>/callback (the
 * upstream's redirect back). Browser pages: the user signs in with their Linkbridge account, the
 * link belongs to it and shows on their Connected apps page.
 */
export function bridgeBrowserRoutes(bridges: BridgeService, opts: { secureCookies: boolean }): Router {
  const router = Router();
  router.use('/bridge', noStore);

  const load: RequestHandler = async (req, res, next) => {
    const name = String(req.params.name);
    const bridge = NAME.test(name) ? await bridges.findByName(name) : undefined;
    if (!bridge) throw new AppError(404, 'not_found', 'There is no such account-linking bridge.');
    res.locals.bridge = bridge;
    next();
  };

  router.get('/bridge/:name/authorize', load, async (req, res) => {
    const bridge = res.locals.bridge;
    let request;
    try {
      request = await bridges.validate(bridge, req.query as Record<string, unknown>);
    } catch (err) {
      if (err instanceof RedirectableError) return res.redirect(302, errorRedirect(err));
      throw err; // client or redirect URI not proven: the error page, never a redirect
    }
    if (!req.user) return res.redirect(302, loginUrlFor(req.originalUrl));
    const { location, transactionId } = await bridges.start(bridge, req.user.id, request);
    res.cookie(TX_COOKIE, transactionId, {
      httpOnly: true,
      sameSite: 'lax', // sent on the upstream's top-level redirect back to us
      secure: opts.secureCookies,
      path: `/bridge/${bridge.name}/callback`,
      maxAge: bridges.timings.transactionTtlSeconds * 1000,
    });
    res.redirect(302, location);
  });

  const finish = async (req: Request, res: Response, params: Record<string, unknown>, via: 'query' | 'fragment') => {
    const bridge = res.locals.bridge;
    const location = await bridges.callback(bridge, req.user!.id, params, cookieValue(req, TX_COOKIE), via);
    res.clearCookie(TX_COOKIE, { path: `/bridge/${bridge.name}/callback`, httpOnly: true, sameSite: 'lax', secure: opts.secureCookies });
    res.redirect(via === 'fragment' ? 303 : 302, location);
  };

  router.get('/bridge/:name/callback', load, requireLogin, async (req, res) => {
    const query = req.query as Record<string, unknown>;
    // An implicit-only upstream puts the token in the fragment, which never reaches a server: a
    // page reads it and posts it back here (with its CSRF token; our state is checked as always).
    if (res.locals.bridge.upstreamImplicit && query.error === undefined) {
      res.setHeader('Content-Security-Policy', contentSecurityPolicy(FRAGMENT_SCRIPT_HASH));
      return res.render('bridge-fragment', { title: 'Finishing the link', name: res.locals.bridge.name, script: FRAGMENT_SCRIPT });
    }
    await finish(req, res, query, 'query');
  });

  router.post('/bridge/:name/callback', load, requireLogin, async (req, res) => {
    if (!res.locals.bridge.upstreamImplicit) throw new AppError(404, 'not_found', 'There is no such page.');
    const fragment = (req.body as Record<string, unknown>).fragment;
    if (typeof fragment !== 'string' || fragment.length > 16000) throw oauthErrors.invalidRequest('The answer of the upstream did not come through. Please start linking again from the Alexa app.');
    const params: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(fragment)) params[k] = k in params ? [params[k] as string, v].flat() : v; // repeated: refused by the service
    await finish(req, res, params, 'fragment');
  });

  return router;
}
