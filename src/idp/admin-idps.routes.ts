import { RequestHandler, Router } from 'express';
import { requireLogin } from '../auth/session';
import { noStore } from '../http/security-headers';
import { AppError, ForbiddenError, ValidationError } from '../lib/errors';
import { ProviderInput, ProviderService, ProviderView } from './providers.service';

const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!req.user?.isAdmin) throw new ForbiddenError('Only administrators can manage sign-in providers.');
  next();
};

const TEXT_FIELDS = ['name', 'displayName', 'type', 'issuer', 'authorizationUrl', 'tokenUrl', 'userinfoUrl', 'clientId', 'scope', 'subjectField', 'emailField', 'emailVerifiedField', 'nameField'] as const;

/** The form's fields; an empty secret on edit keeps the stored one. Only strings count (hostile bodies). */
function formToInput(body: Record<string, unknown>, editing: boolean): ProviderInput {
  const input: Record<string, unknown> = {};
  // An empty field means the type's default (new) or the value as it is (edit).
  for (const f of TEXT_FIELDS) if (typeof body[f] === 'string' && (body[f] as string).trim() !== '') input[f] = (body[f] as string).slice(0, 4096);
  if (editing) {
    delete input.name;
    delete input.type;
  }
  if (typeof body.clientSecret === 'string' && body.clientSecret !== '') input.clientSecret = body.clientSecret.slice(0, 2048);
  input.trustEmail = body.trustEmail === 'on';
  input.allowSignup = body.allowSignup === 'on';
  input.enabled = body.enabled === 'on';
  return input as ProviderInput;
}

const blank = (): Record<string, unknown> => ({ type: 'oidc', scope: '', allowSignup: true, enabled: true });
const valuesOf = (p: ProviderView) => ({ ...p });

/** /admin/idps: the upstream sign-in providers (list, add, edit, turn off/on, remove). Admins only. */
export function adminIdpRoutes(service: ProviderService): Router {
  const router = Router();
  router.use('/admin/idps', requireLogin, requireAdmin, noStore);

  const list = async (res: Parameters<RequestHandler>[1], status = 200, error?: string) =>
    res.status(status).render('admin/idps', { title: 'Sign-in providers', providers: await service.list(), error });

  router.get('/admin/idps', async (_req, res) => list(res));

  router.get('/admin/idps/new', (_req, res) => {
    res.render('admin/idps-form', { title: 'New sign-in provider', provider: undefined, values: blank(), error: undefined });
  });

  router.post('/admin/idps', async (req, res) => {
    const input = formToInput(req.body as Record<string, unknown>, false);
    try {
      await service.create(input);
      res.redirect(303, '/admin/idps');
    } catch (err) {
      if (!(err instanceof ValidationError) && !(err instanceof AppError && err.status === 503)) throw err;
      res.status(err.status).render('admin/idps-form', { title: 'New sign-in provider', provider: undefined, values: { ...blank(), ...input, clientSecret: undefined }, error: err.message });
    }
  });

  router.get('/admin/idps/:name', async (req, res) => {
    const p = service.view(await service.get(req.params.name));
    res.render('admin/idps-form', { title: `Edit ${p.displayName}`, provider: p, values: valuesOf(p), error: undefined });
  });

  router.post('/admin/idps/:name', async (req, res) => {
    const p = service.view(await service.get(req.params.name));
    const input = formToInput(req.body as Record<string, unknown>, true);
    try {
      await service.update(p.name, input);
      res.redirect(303, '/admin/idps');
    } catch (err) {
      if (!(err instanceof ValidationError) && !(err instanceof AppError && err.status === 503)) throw err;
      res.status(err.status).render('admin/idps-form', { title: `Edit ${p.displayName}`, provider: p, values: { ...valuesOf(p), ...input, clientSecret: undefined }, error: err.message });
    }
  });

  router.post('/admin/idps/:name/delete', async (req, res) => {
    try {
      await service.remove(req.params.name);
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 409) throw err;
      return list(res, 409, err.message);
    }
    res.redirect(303, '/admin/idps');
  });

  return router;
}
