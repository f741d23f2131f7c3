import { RequestHandler, Router } from 'express';
import { requireLogin } from '../../auth/session';
import { idParam } from '../../http/params';
import { noStore } from '../../http/security-headers';
import { ForbiddenError, NotFoundError, ValidationError } from '../../lib/errors';
import { OAuthClient } from '../domain';
import { ClientInput, ClientService } from './client.service';
import { ALL_SCOPES } from '../scopes';

const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!req.user?.isAdmin) throw new ForbiddenError('Only administrators can manage OAuth clients.');
  next();
};

function formToInput(body: Record<string, unknown>): ClientInput {
  const text = (name: string) => (typeof body[name] === 'string' ? (body[name] as string) : '');
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);
  const ttl = (name: string) => {
    const v = text(name).trim();
    return v === '' ? null : /^\d+$/.test(v) ? Number(v) : Number.NaN;
  };
  return {
    name: text('name'),
    redirectUris: text('redirect_uris').split(/\r?\n/).map((s) => s.trim()).filter(Boolean),
    scopes: list(body.scopes),
    isPublic: body.is_public === 'on',
    requirePkce: body.require_pkce === 'on',
    allowImplicit: body.allow_implicit === 'on',
    isResourceServer: body.is_resource_server === 'on',
    refreshRotation: text('refresh_rotation') === 'rotate' ? 'rotate' : 'off',
    accessTokenTtl: ttl('access_token_ttl'),
    refreshTokenTtl: ttl('refresh_token_ttl'),
  };
}

const formValues = (c?: OAuthClient) => ({
  name: c?.name ?? '',
  redirectUris: c?.redirectUris.join('\n') ?? '',
  scopes: c?.scopes ?? ['read', 'write'],
  isPublic: c ? c.secretHash === null : false,
  requirePkce: c?.requirePkce ?? false,
  allowImplicit: c?.allowImplicit ?? false,
  isResourceServer: c?.isResourceServer ?? false,
  refreshRotation: c?.refreshRotation ?? 'off',
  accessTokenTtl: c?.accessTokenTtl ?? '',
  refreshTokenTtl: c?.refreshTokenTtl ?? '',
});

/** /admin/clients: list, create (secret shown once), edit, rotate secret, delete. Admins only. */
export function adminClientRoutes(service: ClientService): Router {
  const router = Router();
  router.use('/admin', requireLogin, requireAdmin, noStore);

  const load = async (id: string) => {
    const client = await service.findById(idParam(id));
    if (!client) throw new NotFoundError('No such client.');
    return client;
  };

  router.get('/admin/clients', async (_req, res) => {
    res.render('admin/clients', { title: 'OAuth clients', clients: await service.list() });
  });

  router.get('/admin/clients/new', (_req, res) => {
    res.render('admin/client-form', { title: 'New client', client: undefined, values: formValues(), allScopes: ALL_SCOPES, error: undefined });
  });

  router.post('/admin/clients', async (req, res) => {
    const input = formToInput(req.body as Record<string, unknown>);
    try {
      const created = await service.create(input);
      res.render('admin/client-secret', { title: 'Client created', client: created.client, clientSecret: created.clientSecret, created: true });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.status(400).render('admin/client-form', { title: 'New client', client: undefined, values: { ...formValues(), ...input, redirectUris: input.redirectUris.join('\n') }, allScopes: ALL_SCOPES, error: err.message });
    }
  });

  router.get('/admin/clients/:id', async (req, res) => {
    const client = await load(req.params.id);
    res.render('admin/client-form', { title: `Edit ${client.name}`, client, values: formValues(client), allScopes: ALL_SCOPES, error: undefined });
  });

  router.post('/admin/clients/:id', async (req, res) => {
    const client = await load(req.params.id);
    const input = formToInput(req.body as Record<string, unknown>);
    try {
      await service.update(client.id, input);
      res.redirect(303, '/admin/clients');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.status(400).render('admin/client-form', { title: `Edit ${client.name}`, client, values: { ...formValues(client), ...input, redirectUris: input.redirectUris.join('\n') }, allScopes: ALL_SCOPES, error: err.message });
    }
  });

  router.post('/admin/clients/:id/rotate-secret', async (req, res) => {
    const client = await load(req.params.id);
    const rotated = await service.rotateSecret(client.id, { immediately: (req.body as Record<string, unknown>).immediately === 'on' });
    res.render('admin/client-secret', { title: 'New client secret', client: rotated.client, clientSecret: rotated.clientSecret, created: false });
  });

  router.post('/admin/clients/:id/delete', async (req, res) => {
    const client = await load(req.params.id);
    await service.delete(client.id);
    res.redirect(303, '/admin/clients');
  });

  return router;
}
