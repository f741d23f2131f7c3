import { z } from 'zod';
import { DEFAULT_LIMIT, MAX_LIMIT } from '../lib/pagination';
import { SCOPES } from '../oauth/scopes';
import { RECIPE_LIMITS, recipeInputSchema, recipePatchSchema } from '../recipes/recipe.schemas';

/**
 * The API's OpenAPI 3.1 document, served at /api/openapi.json. Request bodies are generated from
 * the same zod schemas that validate them; the rest is written by hand and kept true by
 * test/integration/openapi.test.ts (every route is documented, every documented route exists,
 * real answers match the response schemas).
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const response = (description: string, schema?: object) => ({ description, ...(schema ? { content: json(schema) } : {}) });
const use = (name: string) => ({ $ref: `#/components/responses/${name}` });
const param = (name: string) => ({ $ref: `#/components/parameters/${name}` });

/** A zod schema as JSON Schema 2020-12 (what OpenAPI 3.1 uses), as clients send it. */
function requestSchema(schema: z.ZodType): object {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return rest;
}

const timestamp = { type: 'string', format: 'date-time' };
const count = { type: ['integer', 'null'], minimum: 1 };

function recipeSchema(withSteps: boolean) {
  const properties: Record<string, object> = {
    id: { type: 'integer', minimum: 1 },
    title: { type: 'string', maxLength: RECIPE_LIMITS.title },
    summary: { type: 'string', maxLength: RECIPE_LIMITS.summary },
    ingredients: { type: 'array', items: { type: 'string' } },
    ...(withSteps ? { steps: { type: 'array', items: { type: 'string' }, description: 'In order: a skill can read them one at a time.' } } : {}),
    minutes: { ...count, description: 'Total time in minutes, when known.' },
    servings: count,
    published: { type: 'boolean', description: 'Published recipes are visible to every user; the others only to their author.' },
    author: ref('Author'),
    mine: { type: 'boolean', description: 'Whether the token user is the author (and may change it).' },
    bookmarked: { type: 'boolean', description: 'Whether the token user has bookmarked it.' },
    created_at: timestamp,
    updated_at: timestamp,
  };
  return { type: 'object', required: Object.keys(properties), properties, additionalProperties: false };
}

function operation(opts: {
  summary: string;
  scope: keyof typeof SCOPES;
  parameters?: object[];
  body?: string;
  responses: Record<string, object>;
}) {
  const errors: Record<string, object> = { '401': use('Unauthorized'), '403': use('Forbidden') };
  if (opts.body) Object.assign(errors, { '400': use('BadRequest'), '413': use('TooLarge') });
  return {
    summary: opts.summary,
    security: [{ oauth2: [opts.scope] }],
    ...(opts.parameters ? { parameters: opts.parameters } : {}),
    ...(opts.body ? { requestBody: { required: true, content: json(ref(opts.body)) } } : {}),
    responses: { ...opts.responses, ...errors },
  };
}

export function openApiDocument(publicUrl: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Linkbridge Recipes API',
      version: '1.0.0',
      description:
        'Recipes and bookmarks of the user who linked their account. Every call needs an access token from ' +
        'this server in the Authorization header (RFC 6750); the `read` scope reads, `write` changes. ' +
        'Errors are JSON `{"error", "error_description"}`; token errors also carry a `WWW-Authenticate: Bearer` challenge. ' +
        'Lists are newest first and paginated with an opaque `cursor` (pass `next_cursor` back until it is null).',
    },
    servers: [{ url: publicUrl }],
    paths: {
      '/api/me': {
        get: operation({ summary: 'The user the token was issued for', scope: 'read', responses: { '200': response('The user', ref('User')) } }),
      },
      '/api/recipes': {
        get: operation({
          summary: 'Search and list published recipes and the user\u2019s own',
          scope: 'read',
          parameters: [param('Query'), param('Mine'), param('Limit'), param('Cursor')],
          responses: { '200': response('A page of recipes, newest first', ref('RecipeList')), '400': use('BadRequest') },
        }),
        post: operation({
          summary: 'Create a recipe (the user is its author)',
          scope: 'write',
          body: 'RecipeInput',
          responses: {
            '201': {
              description: 'Created',
              headers: { Location: { description: 'The new recipe\u2019s URL', schema: { type: 'string' } } },
              content: json(ref('Recipe')),
            },
          },
        }),
      },
      '/api/recipes/{id}': {
        get: operation({
          summary: 'A recipe with its ingredients and ordered steps',
          scope: 'read',
          parameters: [param('RecipeId')],
          responses: { '200': response('The recipe', ref('Recipe')), '404': use('NotFound') },
        }),
        patch: operation({
          summary: 'Change the user\u2019s own recipe (only the fields sent)',
          scope: 'write',
          parameters: [param('RecipeId')],
          body: 'RecipePatch',
          responses: { '200': response('The changed recipe', ref('Recipe')), '404': use('NotFound') },
        }),
        delete: operation({
          summary: 'Delete the user\u2019s own recipe',
          scope: 'write',
          parameters: [param('RecipeId')],
          responses: { '204': response('Deleted'), '404': use('NotFound') },
        }),
      },
      '/api/bookmarks': {
        get: operation({
          summary: 'The user\u2019s bookmarks, newest first',
          scope: 'read',
          parameters: [param('Limit'), param('Cursor')],
          responses: { '200': response('A page of bookmarks', ref('BookmarkList')), '400': use('BadRequest') },
        }),
      },
      '/api/bookmarks/{recipeId}': {
        put: operation({
          summary: 'Bookmark a recipe (idempotent: bookmarking again changes nothing)',
          scope: 'write',
          parameters: [param('BookmarkRecipeId')],
          responses: { '204': response('The recipe is bookmarked'), '404': use('NotFound') },
        }),
        delete: operation({
          summary: 'Remove a bookmark (idempotent: removing one that does not exist is fine)',
          scope: 'write',
          parameters: [param('BookmarkRecipeId')],
          responses: { '204': response('The recipe is not bookmarked'), '404': use('NotFound') },
        }),
      },
      '/api/openapi.json': {
        get: { summary: 'This document', security: [], responses: { '200': response('The OpenAPI document', { type: 'object' }) } },
      },
    },
    components: {
      securitySchemes: {
        oauth2: {
          type: 'oauth2',
          description: 'Access tokens from this server, sent as `Authorization: Bearer <token>`.',
          flows: {
            authorizationCode: {
              authorizationUrl: `${publicUrl}/oauth/authorize`,
              tokenUrl: `${publicUrl}/oauth/token`,
              refreshUrl: `${publicUrl}/oauth/token`,
              scopes: { ...SCOPES },
            },
          },
        },
      },
      parameters: {
        RecipeId: { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } },
        BookmarkRecipeId: { name: 'recipeId', in: 'path', required: true, description: 'The recipe\u2019s id', schema: { type: 'integer', minimum: 1 } },
        Query: {
          name: 'q',
          in: 'query',
          description: 'Full-text search over title, summary and ingredients (web search syntax: words, "a phrase", -without, or).',
          schema: { type: 'string', maxLength: RECIPE_LIMITS.query },
        },
        Mine: { name: 'mine', in: 'query', description: 'Only the user\u2019s own recipes.', schema: { type: 'boolean', default: false } },
        Limit: { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT } },
        Cursor: { name: 'cursor', in: 'query', description: 'The `next_cursor` of the previous page.', schema: { type: 'string', maxLength: 200 } },
      },
      responses: {
        BadRequest: response('Invalid parameters or body (`invalid_request`; validation errors name each field in `fields`)', ref('Error')),
        Unauthorized: response('No token (no error code), or the token is invalid, expired or revoked (`invalid_token`)', ref('Error')),
        Forbidden: response('The token lacks the scope this call needs (`insufficient_scope`, with `scope` in WWW-Authenticate)', ref('Error')),
        NotFound: response('No such recipe, or a private recipe of someone else (`not_found`)', ref('Error')),
        TooLarge: response('The body is larger than 64 kB', ref('Error')),
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'error_description'],
          properties: {
            error: { type: 'string', description: 'A machine-readable code (RFC 6750 codes for token errors).' },
            error_description: { type: 'string', description: 'Text for a developer; do not parse it.' },
            fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'Validation errors: field path (such as `title` or `steps.2`) to message.' },
          },
          additionalProperties: false,
        },
        User: {
          type: 'object',
          required: ['id', 'name', 'email'],
          properties: { id: { type: 'integer' }, name: { type: 'string' }, email: { type: 'string', format: 'email' } },
          additionalProperties: false,
        },
        Author: {
          type: 'object',
          required: ['id', 'name'],
          properties: { id: { type: 'integer' }, name: { type: 'string' } },
          additionalProperties: false,
        },
        RecipeSummary: recipeSchema(false),
        Recipe: recipeSchema(true),
        RecipeList: {
          type: 'object',
          required: ['items', 'next_cursor'],
          properties: { items: { type: 'array', items: ref('RecipeSummary') }, next_cursor: { type: ['string', 'null'] } },
          additionalProperties: false,
        },
        RecipeInput: requestSchema(recipeInputSchema),
        RecipePatch: { ...requestSchema(recipePatchSchema), description: 'Any subset of the recipe\u2019s fields; unknown fields are refused.' },
        Bookmark: {
          type: 'object',
          required: ['recipe_id', 'title', 'summary', 'minutes', 'created_at'],
          properties: {
            recipe_id: { type: 'integer' },
            title: { type: 'string' },
            summary: { type: 'string' },
            minutes: count,
            created_at: { ...timestamp, description: 'When the user bookmarked it.' },
          },
          additionalProperties: false,
        },
        BookmarkList: {
          type: 'object',
          required: ['items', 'next_cursor'],
          properties: { items: { type: 'array', items: ref('Bookmark') }, next_cursor: { type: ['string', 'null'] } },
          additionalProperties: false,
        },
      },
    },
  };
}
