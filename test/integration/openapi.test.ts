import { Express } from 'express';
import request from 'supertest';
import { createTestContext, TestContext } from '../support/context';
import { apiUser, createRecipe, recipeInput } from '../support/recipes';

/**
 * Keeps /api/openapi.json true: the routes Express really serves under /api and the documented
 * operations are the same set; each operation's documented scope is the one enforced; real
 * answers match the documented status codes and response schemas.
 */

let ctx: TestContext;
let doc: OpenApi;
beforeAll(async () => {
  ctx = createTestContext();
  const res = await request(ctx.app).get('/api/openapi.json');
  expect(res.status).toBe(200);
  doc = res.body;
});
afterAll(() => ctx.close());

type Schema = Record<string, unknown>;
interface Operation {
  security?: Array<Record<string, string[]>>;
  responses: Record<string, Schema>;
  requestBody?: { content: Record<string, { schema: Schema }> };
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, Record<string, Schema>>;
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

/** Every method+path the Express app serves below /api, found by walking its router stacks. */
function servedApiRoutes(app: Express): string[] {
  const found: string[] = [];
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] }; rawPath?: unknown };
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods).filter((m) => m !== '_all')) {
          found.push(`${method.toUpperCase()} ${(prefix + layer.route.path).replace(/:(\w+)/g, '{$1}')}`);
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack, prefix + (typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : ''));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return found.filter((r) => r.split(' ')[1].startsWith('/api/')).sort();
}

const documentedRoutes = () =>
  Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).filter((m) => METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();

function resolve(schema: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const [, , section, name] = ref.split('/'); // #/components/<section>/<name>
  return resolve(doc.components[section][name]);
}

const typeMatches = (type: string, v: unknown) =>
  type === 'null' ? v === null
  : type === 'integer' ? Number.isInteger(v)
  : type === 'array' ? Array.isArray(v)
  : type === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v)
  : typeof v === type;

/** A small JSON Schema check: what our documents use ($ref, type, required, properties, items, anyOf, format). */
function violations(schemaOrRef: Schema, value: unknown, at = '$'): string[] {
  const schema = resolve(schemaOrRef);
  if (Array.isArray(schema.anyOf)) {
    return (schema.anyOf as Schema[]).some((s) => violations(s, value, at).length === 0) ? [] : [`${at}: matches none of anyOf`];
  }
  const types = schema.type === undefined ? undefined : ([] as string[]).concat(schema.type as string);
  if (types && !types.some((t) => typeMatches(t, value))) return [`${at}: expected ${types.join('|')}, got ${JSON.stringify(value)}`];
  if (schema.format === 'date-time' && typeof value === 'string' && Number.isNaN(Date.parse(value))) return [`${at}: not a date-time`];
  const out: string[] = [];
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => out.push(...violations(schema.items as Schema, v, `${at}[${i}]`)));
  if (typeMatches('object', value)) {
    const obj = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in obj)) out.push(`${at}.${key}: required but missing`);
    for (const [key, v] of Object.entries(obj)) {
      if (properties[key]) out.push(...violations(properties[key], v, `${at}.${key}`));
      else if (schema.additionalProperties === false) out.push(`${at}.${key}: not documented`);
      else if (typeof schema.additionalProperties === 'object') out.push(...violations(schema.additionalProperties as Schema, v, `${at}.${key}`));
    }
  }
  return out;
}

/** The answer's status is documented for the operation, and its body matches the documented schema. */
function expectDocumented(method: string, path: string, res: request.Response) {
  const op = doc.paths[path]?.[method.toLowerCase()];
  expect(op).toBeDefined();
  const documented = op.responses[String(res.status)];
  if (!documented) throw new Error(`${method} ${path}: status ${res.status} is not documented (body: ${JSON.stringify(res.body)})`);
  const content = resolve(documented).content as Record<string, { schema: Schema }> | undefined;
  if (!content) {
    expect(res.text ?? '').toBe('');
    return;
  }
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(violations(content['application/json'].schema, res.body)).toEqual([]);
}

describe('the OpenAPI document', () => {
  it('when compared with the routes Express serves under /api, then each documents the other exactly', () => {
    const served = servedApiRoutes(ctx.app);
    expect(served).toContain('GET /api/recipes/{id}'); // the walk sees nested routers
    expect(documentedRoutes()).toEqual(served);
  });

  it('when served, then it is OpenAPI 3.1 with the OAuth endpoints of this server and both scopes', () => {
    expect(doc.openapi).toBe('3.1.0');
    const scheme = doc.components.securitySchemes.oauth2 as { type: string; flows: { authorizationCode: Record<string, unknown> } };
    expect(scheme.type).toBe('oauth2');
    expect(scheme.flows.authorizationCode).toMatchObject({
      authorizationUrl: `${ctx.config.publicUrl}/oauth/authorize`,
      tokenUrl: `${ctx.config.publicUrl}/oauth/token`,
      scopes: { read: expect.any(String), write: expect.any(String) },
    });
  });

  it('when each operation is called without a token, or with a token lacking its documented scope, then 401 and 403 name that scope', async () => {
    const owner = await apiUser(ctx);
    const recipe = await createRecipe(ctx, owner.user.id);
    const tokens = { read: await apiUser(ctx, ['write']), write: await apiUser(ctx, ['read']) }; // each lacks the key's scope
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const url = path.replace(/\{\w+\}/g, String(recipe.id));
        const call = () => request(ctx.app)[method as 'get'](url);
        const scopes = op.security?.flatMap((s) => s.oauth2 ?? []) ?? [];
        if (scopes.length === 0) {
          expect((await call()).status).toBe(200); // documented as public
          continue;
        }
        const anonymous = await call();
        expect(anonymous.status).toBe(401);
        expectDocumented(method, path, anonymous);
        const [scope] = scopes;
        const lacking = await call().set('Authorization', tokens[scope as 'read' | 'write'].auth).send({});
        expect(lacking.status).toBe(403);
        expect(lacking.headers['www-authenticate']).toContain(`scope="${scope}"`);
        expectDocumented(method, path, lacking);
        checked++;
      }
    }
    expect(checked).toBe(documentedRoutes().length - 1);
  });

  it('when the documented request schemas are checked against bodies the API accepts, then they agree', () => {
    const body = recipeInput();
    expect(violations(doc.components.schemas.RecipeInput, body)).toEqual([]);
    expect(violations(doc.components.schemas.RecipeInput, { ...body, colour: 'red' })).toEqual(['$.colour: not documented']);
    expect(violations(doc.components.schemas.RecipePatch, { title: 'x', minutes: null })).toEqual([]);
  });

  it('when the main operations are called for real, then every answer has a documented status and matches its schema', async () => {
    const me = await apiUser(ctx);
    const other = await apiUser(ctx);
    const theirs = await createRecipe(ctx, other.user.id);
    const as = (method: 'get' | 'post' | 'patch' | 'put' | 'delete', url: string) => request(ctx.app)[method](url).set('Authorization', me.auth);

    expectDocumented('GET', '/api/me', await as('get', '/api/me'));

    const created = await as('post', '/api/recipes').send(recipeInput({ published: false, minutes: null }));
    expect(created.status).toBe(201);
    expectDocumented('POST', '/api/recipes', created);
    expectDocumented('POST', '/api/recipes', await as('post', '/api/recipes').send({ title: 7 }));
    expectDocumented('POST', '/api/recipes', await as('post', '/api/recipes').send(recipeInput({ summary: 'x'.repeat(70000) })));

    const id = created.body.id;
    expectDocumented('GET', '/api/recipes/{id}', await as('get', `/api/recipes/${id}`));
    expectDocumented('GET', '/api/recipes/{id}', await as('get', '/api/recipes/999999999999'));
    expectDocumented('PATCH', '/api/recipes/{id}', await as('patch', `/api/recipes/${id}`).send({ servings: 3 }));
    expectDocumented('PATCH', '/api/recipes/{id}', await as('patch', `/api/recipes/${theirs.id}`).send({ servings: 3 }));
    expectDocumented('PATCH', '/api/recipes/{id}', await as('patch', `/api/recipes/${id}`).send({ servings: 0 }));

    expectDocumented('PUT', '/api/bookmarks/{recipeId}', await as('put', `/api/bookmarks/${theirs.id}`));
    expectDocumented('PUT', '/api/bookmarks/{recipeId}', await as('put', '/api/bookmarks/999999999999'));
    const list = await as('get', '/api/recipes?limit=1');
    expect(list.body.items).toHaveLength(1);
    expectDocumented('GET', '/api/recipes', list);
    expectDocumented('GET', '/api/recipes', await as('get', '/api/recipes?limit=0'));
    const bookmarks = await as('get', '/api/bookmarks');
    expect(bookmarks.body.items).toHaveLength(1);
    expectDocumented('GET', '/api/bookmarks', bookmarks);
    expectDocumented('GET', '/api/bookmarks', await as('get', '/api/bookmarks?cursor=nope'));
    expectDocumented('DELETE', '/api/bookmarks/{recipeId}', await as('delete', `/api/bookmarks/${theirs.id}`));
    expectDocumented('DELETE', '/api/recipes/{id}', await as('delete', `/api/recipes/${id}`));
    expectDocumented('DELETE', '/api/recipes/{id}', await as('delete', `/api/recipes/${id}`));
  });
});
