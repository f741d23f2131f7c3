import { RequestHandler, Response, Router } from 'express';
import { requireLogin } from '../auth/session';
import { noStore } from '../http/security-headers';
import { AppError, ForbiddenError, ValidationError } from '../lib/errors';
import { BridgeInput, bridgeInputFromText, BridgeText, BridgeTextError } from './bridge-input';
import { bridgeConsoleValues, bridgeJson, BridgeService } from './bridge.service';
import { ANSWER_FIELDS, Bridge, DEFAULT_FIELDS } from './bridge.types';

const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!req.user?.isAdmin) throw new ForbiddenError('Only administrators can see bridges.');
  next();
};

/** The form's text inputs (by BridgeText name); the answer fields are field_<name>. */
const TEXT = ['clientName', 'vendorId', 'baseUrl', 'authorizeUrl', 'tokenUrl', 'revocationUrl', 'upstreamClientId', 'tokenAuth', 'tokenBody', 'expiresInDefault', 'scopeSeparator'] as const;
const LINES = ['scopes', 'authorizeParams', 'tokenParams'] as const;
const CHECKS = ['pkce', 'stateEcho', 'implicit', 'upstreamImplicit', 'allowHttp'] as const;

/** What each form field is called on the page, for an error that names it. */
const LABEL: Partial<Record<keyof BridgeText, string>> = {
  tokenAuth: 'Client authentication',
  tokenBody: 'Request body',
  fields: 'Answer field',
  expiresInDefault: 'Default lifetime',
  authorizeParams: 'Extra authorization parameter',
  tokenParams: 'Extra token parameter',
};

/** The form's values as the page shows them (strings and check boxes); never a secret. */
type FormValues = Record<string, string | boolean>;

const lines = (v: unknown) =>
  (typeof v === 'string' ? v : '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 50);

/** Only strings count (a hostile body may send arrays or nothing); the whole form is the configuration. */
function formValues(body: Record<string, unknown>): FormValues {
  const v: FormValues = {};
  const str = (k: string, max = 4096) => (typeof body[k] === 'string' ? (body[k] as string).slice(0, max) : '');
  v.name = str('name', 60);
  for (const k of TEXT) v[k] = str(k);
  for (const k of LINES) v[k] = str(k, 8000);
  for (const f of ANSWER_FIELDS) v[`field_${f}`] = str(`field_${f}`, 600);
  for (const k of CHECKS) v[k] = body[k] === 'on';
  return v;
}

/** The form as bridge input, through the converter the CLI uses too; the secret only when one was typed. */
function formToInput(v: FormValues, body: Record<string, unknown>): Partial<BridgeInput> {
  const s = (k: string) => v[k] as string;
  const secret = typeof body.upstreamClientSecret === 'string' ? body.upstreamClientSecret.slice(0, 4096) : '';
  try {
    return bridgeInputFromText({
      ...Object.fromEntries(TEXT.map((k) => [k, s(k)])),
      upstreamClientSecret: secret,
      // An empty path is the field's standard name.
      fields: ANSWER_FIELDS.map((f) => `${f}=${s(`field_${f}`).trim() || DEFAULT_FIELDS[f]}`),
      scopes: lines(v.scopes),
      authorizeParams: lines(v.authorizeParams),
      tokenParams: lines(v.tokenParams),
      ...Object.fromEntries(CHECKS.map((k) => [k, v[k] === true])),
    });
  } catch (err) {
    if (err instanceof BridgeTextError) throw new ValidationError(`${LABEL[err.field] ?? err.field} ${err.message}.`, { [err.field]: err.message });
    throw err;
  }
}

/** A stored bridge as the form's values. */
function valuesOf(b: Bridge, clientName: string): FormValues {
  return {
    name: b.name,
    clientName,
    vendorId: b.vendorId,
    baseUrl: b.baseUrl,
    authorizeUrl: b.authorizeUrl,
    tokenUrl: b.tokenUrl,
    revocationUrl: b.revocationUrl ?? '',
    upstreamClientId: b.upstreamClientId,
    tokenAuth: b.tokenAuth,
    tokenBody: b.tokenBody,
    expiresInDefault: String(b.expiresInDefault),
    scopeSeparator: b.scopeSeparator,
    scopes: b.scopes.map((m) => `${m.alexa}=${m.upstream.join(' ')}`).join('\n'),
    authorizeParams: Object.entries(b.authorizeParams).map(([k, x]) => `${k}=${x}`).join('\n'),
    tokenParams: Object.entries(b.tokenParams).map(([k, x]) => `${k}=${x}`).join('\n'),
    ...Object.fromEntries(ANSWER_FIELDS.map((f) => [`field_${f}`, b.fields[f]])),
    pkce: b.pkce,
    stateEcho: b.stateEcho,
    implicit: b.implicit,
    upstreamImplicit: b.upstreamImplicit,
    allowHttp: b.allowHttp,
  };
}

const blank = (): FormValues => ({ tokenAuth: 'basic', tokenBody: 'form', expiresInDefault: '3600', stateEcho: true, ...Object.fromEntries(ANSWER_FIELDS.map((f) => [`field_${f}`, DEFAULT_FIELDS[f]])) });

/** A refusal the form shows (400, or 503 while the database is away); anything else goes to the error handler. */
const shownOnForm = (err: unknown): err is AppError => err instanceof ValidationError || (err instanceof AppError && err.status === 503);

/**
 * /admin/bridges: every bridge with its upstream configuration and what to enter in the Alexa
 * console; create, change and delete one (the same input schema and text converter as the
 * `bridges:*` commands, so the two never disagree). Secrets are never shown back: the upstream's
 * is encrypted (typing a new one replaces it), ours is shown once, on the page after creation.
 */
export function adminBridgeRoutes(bridges: BridgeService): Router {
  const router = Router();
  router.use('/admin/bridges', requireLogin, requireAdmin, noStore);

  const form = (res: Response, opts: { bridge?: Bridge; values: FormValues; error?: string; status?: number }) =>
    res.status(opts.status ?? 200).render('admin/bridges-form', {
      title: opts.bridge ? `Edit bridge ${opts.bridge.name}` : 'New bridge',
      bridge: opts.bridge ? bridgeJson(opts.bridge) : undefined,
      values: opts.values,
      error: opts.error,
    });

  router.get('/admin/bridges', async (req, res) => {
    const list = await bridges.list();
    res.render('admin/bridges', { title: 'Bridges', bridges: list.map(bridgeJson), deleted: req.query.deleted === '1' });
  });

  router.get('/admin/bridges/new', (_req, res) => form(res, { values: blank() }));

  router.post('/admin/bridges', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const values = formValues(body);
    try {
      const { bridge, client, clientSecret } = await bridges.create({ ...formToInput(values, body), name: values.name as string } as BridgeInput);
      // Our client secret for Alexa, this once (the page is no-store; only its hash is kept).
      res.render('admin/bridges-show', {
        title: `Bridge ${bridge.name} created`,
        bridge: bridgeJson(bridge),
        console: bridgeConsoleValues(bridge, client, clientSecret),
        liveLinks: 0,
        created: true,
      });
    } catch (err) {
      if (!shownOnForm(err)) throw err;
      form(res, { values, error: err.message, status: err.status });
    }
  });

  router.get('/admin/bridges/:name', async (req, res) => {
    const bridge = await bridges.get(String(req.params.name));
    res.render('admin/bridges-show', {
      title: `Bridge ${bridge.name}`,
      bridge: bridgeJson(bridge),
      console: bridgeConsoleValues(bridge, await bridges.clientOf(bridge), null),
      liveLinks: await bridges.liveLinkCount(bridge),
      created: false,
    });
  });

  router.get('/admin/bridges/:name/edit', async (req, res) => {
    const bridge = await bridges.get(String(req.params.name));
    form(res, { bridge, values: valuesOf(bridge, (await bridges.clientOf(bridge)).name) });
  });

  router.post('/admin/bridges/:name', async (req, res) => {
    const bridge = await bridges.get(String(req.params.name));
    const body = req.body as Record<string, unknown>;
    const values = { ...formValues(body), name: bridge.name };
    try {
      await bridges.update(bridge.name, formToInput(values, body));
      res.redirect(303, `/admin/bridges/${bridge.name}`);
    } catch (err) {
      if (!shownOnForm(err)) throw err;
      form(res, { bridge, values, error: err.message, status: err.status });
    }
  });

  router.post('/admin/bridges/:name/delete', async (req, res) => {
    // Its client and every link go; live links are revoked at the upstream first (best effort).
    await bridges.delete((await bridges.get(String(req.params.name))).name);
    res.redirect(303, '/admin/bridges?deleted=1');
  });

  return router;
}
