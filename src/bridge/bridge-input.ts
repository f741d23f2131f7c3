import { z } from 'zod';
import { DEFAULT_FIELDS, FieldPaths } from './bridge.types';
import { isFieldPath } from './upstream-client';

/** Parameters we set ourselves on the upstream requests: configuration cannot override them. */
export const RESERVED_AUTHORIZE_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope'];
export const RESERVED_TOKEN_PARAMS = ['grant_type', 'code', 'redirect_uri', 'code_verifier', 'refresh_token', 'client_id', 'client_secret', 'token', 'token_type_hint'];

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];
const VSCHAR = /^[\x20-\x7e]+$/;
/** RFC 6749 §3.3 scope-token characters. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/;

/** An https URL (http only on a loopback host with allowHttp: tests and local trials). */
export function urlProblem(value: string, allowHttp: boolean, opts: { query?: boolean; path?: boolean } = {}): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'is not an absolute URL';
  }
  if (value.length > 2000) return 'is too long';
  if (u.username || u.password) return 'must not contain credentials';
  if (u.hash || value.includes('#')) return 'must not contain a fragment';
  if (!opts.query && u.search) return 'must not have a query';
  if (opts.path === false && u.pathname !== '/' && u.pathname !== '') return 'must not have a path';
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && allowHttp && LOOPBACK.includes(u.hostname)) return undefined;
  if (u.protocol === 'http:' && allowHttp) return 'may use http only on a loopback host (localhost, 127.0.0.1, [::1])';
  return 'must use https (add --allow-http for a loopback test upstream)';
}

const params = (reserved: string[]) =>
  z
    .record(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'Parameter names are letters, digits, _ . : -'), z.string().max(1000).regex(/^[^\r\n\0]*$/, 'Parameter values are one line'))
    .superRefine((rec, ctx) => {
      for (const k of Object.keys(rec)) if (reserved.includes(k)) ctx.addIssue({ code: 'custom', message: `The parameter "${k}" is set by the bridge itself and cannot be configured.` });
      if (Object.keys(rec).length > 20) ctx.addIssue({ code: 'custom', message: 'At most 20 extra parameters.' });
    });

export const bridgeInputSchema = z
  .object({
    name: z
      .string()
      .trim()
      .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'The name is 1-40 lower-case letters, digits and dashes (it is part of the URLs).')
      .refine((n) => n !== 'new', 'The name "new" is reserved (/admin/bridges/new is the form for a new bridge).'),
    clientName: z.string().trim().min(1).max(100).optional(),
    vendorId: z.string().trim().regex(/^[A-Za-z0-9]{4,64}$/, 'The vendor ID is the letters and digits of your Amazon vendor ID (Alexa console > Settings).'),
    baseUrl: z.string().trim().transform((s) => s.replace(/\/+$/, '')),
    authorizeUrl: z.string().trim(),
    /** May be empty for an implicit-only upstream (it has no token endpoint we would call). */
    tokenUrl: z.string().trim().default(''),
    revocationUrl: z.string().trim().nullable().default(null),
    upstreamClientId: z.string().min(1, 'Give the client ID registered at the upstream.').max(500).regex(VSCHAR, 'The client ID is printable ASCII.'),
    /** In clear here only; the service seals it at once. Undefined on update: unchanged. */
    upstreamClientSecret: z.string().max(2000).regex(VSCHAR, 'The client secret is printable ASCII.').nullable().optional(),
    tokenAuth: z.enum(['basic', 'body']).default('basic'),
    tokenBody: z.enum(['form', 'json']).default('form'),
    fields: z
      .partialRecord(z.enum(['access_token', 'refresh_token', 'expires_in', 'token_type']), z.string().refine(isFieldPath, 'A field path is names separated by dots, e.g. data.accessToken.'))
      .default({})
      .transform((f): FieldPaths => ({ ...DEFAULT_FIELDS, ...f })),
    expiresInDefault: z.number().int().min(60, 'The default lifetime is at least 60 seconds.').max(10 * 365 * 24 * 3600).default(3600),
    scopes: z
      .array(z.object({ alexa: z.string().regex(SCOPE_TOKEN, 'A scope is one word without spaces or quotes.'), upstream: z.array(z.string().regex(SCOPE_TOKEN, 'An upstream scope is one word without spaces or quotes.')).max(20) }))
      .max(20)
      .default([])
      .superRefine((list, ctx) => {
        if (new Set(list.map((s) => s.alexa)).size !== list.length) ctx.addIssue({ code: 'custom', message: 'Each Alexa scope is mapped once.' });
      }),
    scopeSeparator: z.string().min(1).max(3).regex(/^[\x20-\x7e]+$/, 'The scope separator is printable ASCII.').default(' '),
    authorizeParams: params(RESERVED_AUTHORIZE_PARAMS).default({}),
    tokenParams: params(RESERVED_TOKEN_PARAMS).default({}),
    pkce: z.boolean().default(false),
    stateEcho: z.boolean().default(true),
    implicit: z.boolean().default(false),
    upstreamImplicit: z.boolean().default(false),
    allowHttp: z.boolean().default(false),
  })
  .superRefine((b, ctx) => {
    const check = (field: 'baseUrl' | 'authorizeUrl' | 'tokenUrl' | 'revocationUrl', label: string, opts: { query?: boolean } = {}) => {
      const v = b[field];
      if (v === null) return;
      if (field === 'tokenUrl' && v === '' && b.upstreamImplicit) return; // never called for an implicit-only upstream
      const problem = urlProblem(v, b.allowHttp, opts);
      if (problem) ctx.addIssue({ code: 'custom', path: [field], message: `${label} ${problem}.` });
    };
    check('baseUrl', 'The base URL');
    check('authorizeUrl', 'The authorization URL', { query: true });
    check('tokenUrl', 'The token URL');
    check('revocationUrl', 'The revocation URL');
    if (b.upstreamImplicit && b.pkce) ctx.addIssue({ code: 'custom', path: ['pkce'], message: 'PKCE does not apply to an upstream that uses the implicit grant.' });
    for (const s of b.scopes) if (s.upstream.some((u) => u.includes(b.scopeSeparator))) ctx.addIssue({ code: 'custom', message: `The upstream scopes of "${s.alexa}" contain the scope separator.` });
  });

export type BridgeInput = z.input<typeof bridgeInputSchema>;
export type ParsedBridgeInput = z.output<typeof bridgeInputSchema>;

/** `--scope read=up.read` or `--scope "read=up.read up.profile"`: an Alexa scope and the upstream scopes it stands for. */
export function parseScopeMapping(value: string): { alexa: string; upstream: string[] } {
  const eq = value.indexOf('=');
  if (eq <= 0) return { alexa: value.trim(), upstream: [value.trim()] };
  return { alexa: value.slice(0, eq).trim(), upstream: value.slice(eq + 1).split(/[\s]+/).filter(Boolean) };
}

/**
 * A bridge's configuration as text, the way the command line's flags and the admin form give it,
 * before the schema: one converter for both, so they can never read a value differently.
 * Undefined means "not given" (an update keeps it); for the optional URL, an empty string removes it.
 */
export interface BridgeText {
  vendorId?: string;
  baseUrl?: string;
  authorizeUrl?: string;
  tokenUrl?: string;
  revocationUrl?: string;
  upstreamClientId?: string;
  /** Empty: not given (the stored secret stays). */
  upstreamClientSecret?: string;
  tokenAuth?: string;
  tokenBody?: string;
  /** `access_token=data.accessToken`, one per field. */
  fields?: string[];
  expiresInDefault?: string;
  /** `read=up.read up.profile`, one per Alexa scope. */
  scopes?: string[];
  scopeSeparator?: string;
  /** `k=v`, one per parameter. */
  authorizeParams?: string[];
  tokenParams?: string[];
  pkce?: boolean;
  stateEcho?: boolean;
  implicit?: boolean;
  upstreamImplicit?: boolean;
  allowHttp?: boolean;
  clientName?: string;
}

/** A value the text cannot be read as; `field` says which (the CLI names its flag, the form its label). */
export class BridgeTextError extends Error {
  constructor(
    readonly field: keyof BridgeText,
    message: string,
  ) {
    super(message);
  }
}

const FIELD_NAMES: readonly string[] = ['access_token', 'refresh_token', 'expires_in', 'token_type'];

function oneOf<T extends string>(field: keyof BridgeText, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new BridgeTextError(field, `must be ${allowed.join(' or ')}`);
  return v as T;
}

function pairsOf(field: keyof BridgeText, values: string[] | undefined): Record<string, string> | undefined {
  if (!values) return undefined;
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new BridgeTextError(field, `must be name=value (got "${v.slice(0, 60)}")`);
    out[v.slice(0, eq).trim()] = v.slice(eq + 1);
  }
  return out;
}

/** The text as bridge input for bridgeInputSchema (which then checks every value). */
export function bridgeInputFromText(t: BridgeText): Partial<BridgeInput> {
  const expires = t.expiresInDefault?.trim();
  if (expires !== undefined && expires !== '' && !/^\d{1,9}$/.test(expires)) throw new BridgeTextError('expiresInDefault', 'must be a number of seconds');
  const fields = pairsOf('fields', t.fields);
  if (fields) for (const k of Object.keys(fields)) if (!FIELD_NAMES.includes(k)) throw new BridgeTextError('fields', `${k.slice(0, 40)}=...: the fields are access_token, refresh_token, expires_in and token_type`);
  const text = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v);
  return {
    vendorId: t.vendorId,
    baseUrl: t.baseUrl,
    authorizeUrl: t.authorizeUrl,
    tokenUrl: t.tokenUrl,
    revocationUrl: t.revocationUrl === undefined ? undefined : t.revocationUrl.trim() === '' ? null : t.revocationUrl,
    upstreamClientId: t.upstreamClientId,
    upstreamClientSecret: t.upstreamClientSecret === '' ? undefined : t.upstreamClientSecret,
    tokenAuth: oneOf('tokenAuth', t.tokenAuth, ['basic', 'body'] as const),
    tokenBody: oneOf('tokenBody', t.tokenBody, ['form', 'json'] as const),
    fields,
    expiresInDefault: expires === undefined || expires === '' ? undefined : Number(expires),
    scopes: t.scopes?.map(parseScopeMapping),
    scopeSeparator: t.scopeSeparator === '' ? undefined : t.scopeSeparator,
    authorizeParams: pairsOf('authorizeParams', t.authorizeParams),
    tokenParams: pairsOf('tokenParams', t.tokenParams),
    pkce: t.pkce,
    stateEcho: t.stateEcho,
    implicit: t.implicit,
    upstreamImplicit: t.upstreamImplicit,
    allowHttp: t.allowHttp,
    clientName: text(t.clientName),
  };
}
