import { bridgeInputFromText, parseScopeMapping, urlProblem } from '../../src/bridge/bridge-input';
import { DEFAULT_FIELDS } from '../../src/bridge/bridge.types';
import { coerceExpiresIn, isFieldPath, keyPaths, readPath, UpstreamClient, UpstreamEndpointConfig, UpstreamError } from '../../src/bridge/upstream-client';

const cfg = (over: Partial<UpstreamEndpointConfig> = {}): UpstreamEndpointConfig => ({
  name: 'unit',
  tokenUrl: 'https://up.example/token',
  clientId: 'id with space&+',
  clientSecret: 'sec:ret/+=',
  tokenAuth: 'basic',
  tokenBody: 'form',
  tokenParams: { audience: 'api' },
  fields: DEFAULT_FIELDS,
  expiresInDefault: 1800,
  ...over,
});

/** A fetch that records the request and answers as told. */
function fakeFetch(answer: { status?: number; body?: string; contentType?: string; throws?: unknown }) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    if (answer.throws) throw answer.throws;
    return new Response(answer.body ?? '', { status: answer.status ?? 200, headers: { 'content-type': answer.contentType ?? 'application/json' } });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof UpstreamError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('reading an upstream answer', () => {
  it('when a path names nested fields, then readPath follows own properties only', () => {
    expect(readPath({ data: { accessToken: 'a' } }, 'data.accessToken')).toBe('a');
    expect(readPath({ data: null }, 'data.accessToken')).toBeUndefined();
    expect(readPath({ data: ['x'] }, 'data.0')).toBeUndefined();
    expect(readPath({}, 'constructor')).toBeUndefined();
    expect(readPath(JSON.parse('{"__proto__": {"x": 1}}'), '__proto__.x')).toBe(1); // own data, harmless; configuration refuses such paths anyway
  });

  it('when a field path is configured, then only dot-separated names are accepted', () => {
    expect(isFieldPath('data.accessToken')).toBe(true);
    expect(isFieldPath('access_token')).toBe(true);
    for (const bad of ['', '.a', 'a.', 'a..b', 'a b', '__proto__.x', 'a.constructor', 'a[0]', 'x'.repeat(65)]) expect(isFieldPath(bad)).toBe(false);
  });

  it('when expires_in is a number or a string of digits, then it is whole seconds; anything else is absent', () => {
    expect(coerceExpiresIn(3600)).toBe(3600);
    expect(coerceExpiresIn('3600')).toBe(3600);
    expect(coerceExpiresIn(' 3600 ')).toBe(3600);
    expect(coerceExpiresIn('3599.9')).toBe(3599);
    for (const bad of [-1, Number.NaN, Infinity, '1h', '', null, {}, true, '12345678901']) expect(coerceExpiresIn(bad)).toBeUndefined();
  });

  it('when an answer is logged, then only its key paths appear, never its values', () => {
    const paths = keyPaths({ data: { token: 'SECRET', nested: { deep: 'SECRET2' } }, ok: true });
    expect(paths).toEqual(['data', 'data.token', 'data.nested', 'data.nested.deep', 'ok']);
    expect(JSON.stringify(paths)).not.toContain('SECRET');
  });
});

describe('the upstream token request', () => {
  it('when the upstream wants Basic, then id and secret are form-encoded inside it (RFC 6749 §2.3.1) and the extra parameters are sent', async () => {
    const { fn, calls } = fakeFetch({ body: JSON.stringify({ access_token: 'at', token_type: 'bearer', expires_in: '60', refresh_token: 'rt' }) });
    const t = await new UpstreamClient({ fetch: fn }).refresh(cfg(), 'old', 1000);
    expect(t).toEqual({ accessToken: 'at', refreshToken: 'rt', expiresIn: 60, expiresInFromUpstream: true });
    const headers = calls[0].init.headers as Record<string, string>;
    expect(Buffer.from(headers.authorization.replace('Basic ', ''), 'base64').toString()).toBe('id+with+space%26%2B:sec%3Aret%2F%2B%3D');
    const body = new URLSearchParams(String(calls[0].init.body));
    expect(Object.fromEntries(body)).toEqual({ audience: 'api', grant_type: 'refresh_token', refresh_token: 'old' });
    expect(calls[0].init.redirect).toBe('manual');
  });

  it('when the upstream wants JSON with credentials in the body, then that is what it gets', async () => {
    const { fn, calls } = fakeFetch({ body: JSON.stringify({ data: { accessToken: 'at' } }) });
    const t = await new UpstreamClient({ fetch: fn }).refresh(cfg({ tokenAuth: 'body', tokenBody: 'json', fields: { ...DEFAULT_FIELDS, access_token: 'data.accessToken' } }), 'old', 1000);
    expect(t.expiresIn).toBe(1800); // the default
    expect(t.expiresInFromUpstream).toBe(false);
    expect((calls[0].init.headers as Record<string, string>)['content-type']).toBe('application/json');
    expect((calls[0].init.headers as Record<string, string>).authorization).toBeUndefined();
    expect(JSON.parse(String(calls[0].init.body))).toMatchObject({ client_id: 'id with space&+', client_secret: 'sec:ret/+=', grant_type: 'refresh_token' });
  });

  it('when the upstream answers form-encoded, then it is read too', async () => {
    const { fn } = fakeFetch({ body: 'access_token=at&expires_in=90', contentType: 'application/x-www-form-urlencoded' });
    expect((await new UpstreamClient({ fetch: fn }).refresh(cfg(), 'old', 1000)).expiresIn).toBe(90);
  });

  it.each([
    ['a 500', 'transient', { status: 500, body: 'oops', contentType: 'text/html' }],
    ['a 503 with JSON', 'transient', { status: 503, body: '{"error":"invalid_grant"}' }],
    ['a 429', 'transient', { status: 429, body: '' }],
    ['temporarily_unavailable', 'transient', { status: 400, body: '{"error":"temporarily_unavailable"}' }],
    ['invalid_grant', 'invalid_grant', { status: 400, body: '{"error":"invalid_grant"}' }],
    ['a nested invalid_grant', 'invalid_grant', { status: 400, body: '{"error":{"code":"invalid_grant"}}' }],
    ['invalid_client', 'refused', { status: 401, body: '{"error":"invalid_client"}' }],
    ['a 200 carrying an error', 'refused', { status: 200, body: '{"error":"access_denied"}' }],
    ['a redirect', 'refused', { status: 302, body: '' }],
    ['an HTML 200', 'unreadable', { status: 200, body: '<html>login</html>', contentType: 'text/html' }],
    ['a JSON array', 'unreadable', { status: 200, body: '["x"]' }],
    ['no access token', 'unreadable', { status: 200, body: '{"accessToken":"x"}' }],
    ['a MAC token', 'unreadable', { status: 200, body: '{"access_token":"x","token_type":"mac"}' }],
    ['a huge answer', 'unreadable', { status: 200, body: `{"access_token":"${'x'.repeat(70000)}"}` }],
  ] as Array<[string, string, { status?: number; body?: string; contentType?: string }]>)('when the upstream answers %s, then the failure is %s', async (_label, kind, answer) => {
    const { fn } = fakeFetch(answer);
    expect((await failure(new UpstreamClient({ fetch: fn }).refresh(cfg(), 'old', 1000))).kind).toBe(kind);
  });

  it('when the connection fails or times out, then the failure is transient', async () => {
    const { fn } = fakeFetch({ throws: Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }) });
    expect((await failure(new UpstreamClient({ fetch: fn }).refresh(cfg(), 'old', 1000))).kind).toBe('transient');
    const timeout = fakeFetch({ throws: new DOMException('The operation was aborted due to timeout', 'TimeoutError') });
    const e = await failure(new UpstreamClient({ fetch: timeout.fn }).refresh(cfg(), 'old', 1000));
    expect(e.kind).toBe('transient');
    expect(e.message).toContain('1000 ms');
  });

  it('when a 200 has no usable access token but a new refresh token, then the failure carries it (the old one is spent)', async () => {
    const { fn } = fakeFetch({ body: '{"refresh_token":"rotated"}' });
    const e = await failure(new UpstreamClient({ fetch: fn }).refresh(cfg(), 'old', 1000));
    expect(e.kind).toBe('unreadable');
    expect(e.rotatedRefreshToken).toBe('rotated');
    expect(JSON.stringify(e.detail)).not.toContain('rotated');
  });
});

describe('bridge configuration values', () => {
  it('when URLs are checked, then https passes, http only on loopback with allowHttp, and no credentials or fragments', () => {
    expect(urlProblem('https://up.example/token', false)).toBeUndefined();
    expect(urlProblem('http://127.0.0.1:9/token', true)).toBeUndefined();
    expect(urlProblem('http://127.0.0.1:9/token', false)).toMatch(/https/);
    expect(urlProblem('http://up.example/token', true)).toMatch(/loopback/);
    expect(urlProblem('https://u:p@up.example/', false)).toMatch(/credentials/);
    expect(urlProblem('https://up.example/#x', false)).toMatch(/fragment/);
    expect(urlProblem('https://up.example/?a=1', false)).toMatch(/query/);
    expect(urlProblem('https://up.example/auth?tenant=1', false, { query: true })).toBeUndefined();
    expect(urlProblem('javascript:alert(1)', true)).toMatch(/https/);
    expect(urlProblem('not a url', false)).toMatch(/absolute/);
  });

  it('when scope mappings and pairs are parsed, then names and values split at the first =', () => {
    expect(parseScopeMapping('read=up.read up.profile')).toEqual({ alexa: 'read', upstream: ['up.read', 'up.profile'] });
    expect(parseScopeMapping('read')).toEqual({ alexa: 'read', upstream: ['read'] });
    expect(bridgeInputFromText({ authorizeParams: ['audience=https://x/?a=b'] }).authorizeParams).toEqual({ audience: 'https://x/?a=b' });
    expect(() => bridgeInputFromText({ tokenParams: ['novalue'] })).toThrow(/name=value/);
  });

  it('when the CLI and the admin form give text, then one converter reads it: empty means not given, an empty revocation URL removes it', () => {
    expect(bridgeInputFromText({ revocationUrl: '', upstreamClientSecret: '', expiresInDefault: '', scopeSeparator: '', clientName: ' ' })).toMatchObject({
      revocationUrl: null,
      upstreamClientSecret: undefined,
      expiresInDefault: undefined,
      scopeSeparator: undefined,
      clientName: undefined,
    });
    expect(bridgeInputFromText({ expiresInDefault: '900', fields: ['access_token=data.at'] })).toMatchObject({ expiresInDefault: 900, fields: { access_token: 'data.at' } });
    expect(() => bridgeInputFromText({ expiresInDefault: '1h' })).toThrow(/number of seconds/);
    expect(() => bridgeInputFromText({ tokenAuth: 'bearer' })).toThrow(/basic or body/);
    expect(() => bridgeInputFromText({ fields: ['id_token=x'] })).toThrow(/the fields are/);
  });
});
