import { createHash } from 'node:crypto';
import { AuthorizationCode, RefreshToken } from '../../src/oauth/domain';
import { isLiveAccessToken } from '../../src/oauth/rules/access-token.rules';
import { CodeContext, codeRules } from '../../src/oauth/rules/code.rules';
import { issuedScope, RefreshContext, refreshTokenRules } from '../../src/oauth/rules/refresh-token.rules';
import { firstViolation, sqlPredicate } from '../../src/oauth/rules/rule';

const now = new Date('2026-12-01T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000);

const token = (over: Partial<RefreshToken> = {}): RefreshToken => ({
  id: 1,
  grantId: 2,
  clientId: 3,
  userId: 4,
  authorizationCodeId: null,
  scope: ['read', 'write'],
  expiresAt: null,
  rotatedAt: null,
  replacedById: null,
  revokedAt: null,
  grantRevokedAt: null,
  userDisabledAt: null,
  ...over,
});
const refreshCtx = (over: Partial<RefreshContext> = {}): RefreshContext => ({ clientId: 3, clientScopes: ['read', 'write'], now, scope: null, graceSeconds: 300, rotate: false, ...over });

describe('refresh token rules', () => {
  const cases: Array<[string, Partial<RefreshToken>, Partial<RefreshContext>, string | undefined, string | undefined]> = [
    ['a live token passes', {}, {}, undefined, undefined],
    ['another client is refused first', { revokedAt: ago(1) }, { clientId: 9 }, 'issued to the client', 'invalid_grant'],
    ['a revoked token is refused', { revokedAt: ago(1) }, {}, 'not revoked', 'invalid_grant'],
    ['a token of a revoked grant is refused', { grantRevokedAt: ago(1) }, {}, 'not revoked', 'invalid_grant'],
    ['a token of a disabled user is refused', { userDisabledAt: ago(1) }, {}, 'not revoked', 'invalid_grant'],
    ['an expired token is refused', { expiresAt: ago(1) }, {}, 'not expired', 'invalid_grant'],
    ['a token expiring later passes', { expiresAt: new Date(now.getTime() + 1000) }, {}, undefined, undefined],
    ['a wider scope is refused', { scope: ['read'] }, { scope: ['read', 'write'] }, 'covers the requested scope', 'invalid_scope'],
    ['a narrower scope passes', {}, { scope: ['read'] }, undefined, undefined],
    ['a scope the client no longer has is refused when asked for', {}, { scope: ['write'], clientScopes: ['read'] }, 'allowed for the client now', 'invalid_scope'],
    ['a token of a client narrowed to other scopes is refused', { scope: ['write'] }, { clientScopes: ['read'] }, 'allowed for the client now', 'invalid_grant'],
    ['a token of a client narrowed to some of its scopes passes', {}, { clientScopes: ['read'] }, undefined, undefined],
    ['a token rotated within the window passes', { rotatedAt: ago(299) }, {}, undefined, undefined],
    ['a token rotated past the window is refused', { rotatedAt: ago(301) }, {}, 'within the grace window', 'invalid_grant'],
  ];
  it.each(cases)('when %s', (_name, row, ctx, rule, code) => {
    const v = firstViolation(refreshTokenRules, token(row), refreshCtx(ctx));
    expect(v?.rule).toBe(rule);
    expect(v?.error.code).toBe(code);
  });

  it('when a rotated token is reused past the window under rotation, then the consequence is revoking the grant', () => {
    expect(firstViolation(refreshTokenRules, token({ rotatedAt: ago(3600) }), refreshCtx({ rotate: true }))?.consequence).toBe('revoke-grant');
    expect(firstViolation(refreshTokenRules, token({ rotatedAt: ago(3600) }), refreshCtx({ rotate: false }))?.consequence).toBeUndefined();
  });

  it('when the rules become SQL, then every rule is in the predicate with the statement placeholders', () => {
    const sql = sqlPredicate(refreshTokenRules, { clientId: '$2', scope: '$3::text[]', graceSeconds: '$6', clientScopes: '$7::text[]' });
    expect(sql.split('\n AND ')).toHaveLength(refreshTokenRules.length);
    expect(sql).toContain('g.client_id = $2');
    expect(sql).toContain('$3::text[] <@ r.scope');
    expect(sql).toContain('make_interval(secs => $6)');
    expect(sql).toContain('r.scope && $7::text[]');
  });

  it('when the client was narrowed, then what a refresh issues is the asked scope less what the client lost', () => {
    expect(issuedScope(token(), refreshCtx({ clientScopes: ['read'] }))).toEqual(['read']);
    expect(issuedScope(token(), refreshCtx({ scope: ['write'] }))).toEqual(['write']);
    expect(issuedScope(token({ scope: ['read'] }), refreshCtx())).toEqual(['read']);
  });
});

const code = (over: Partial<AuthorizationCode> = {}): AuthorizationCode => ({
  id: 1,
  grantId: 2,
  clientId: 3,
  userId: 4,
  redirectUri: 'https://app.example/cb',
  redirectUriInRequest: true,
  scope: ['read'],
  codeChallenge: null,
  codeChallengeMethod: null,
  expiresAt: new Date(now.getTime() + 60_000),
  consumedAt: null,
  grantRevokedAt: null,
  userDisabledAt: null,
  ...over,
});
const codeCtx = (over: Partial<CodeContext> = {}): CodeContext => ({ clientId: 3, clientScopes: ['read', 'write'], now, redirectUri: 'https://app.example/cb', ...over });

describe('authorization code rules', () => {
  const verifier = 'a'.repeat(43);
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const cases: Array<[string, Partial<AuthorizationCode>, Partial<CodeContext>, string | undefined]> = [
    ['a fresh code passes', {}, {}, undefined],
    ['another client is refused', {}, { clientId: 9 }, 'issued to the client'],
    ['a spent code is refused', { consumedAt: ago(1) }, {}, 'not yet redeemed'],
    ['an expired code is refused', { expiresAt: ago(1) }, {}, 'not expired'],
    ['a code of a revoked grant is refused', { grantRevokedAt: ago(1) }, {}, 'grant and user live'],
    ['a code of a disabled user is refused', { userDisabledAt: ago(1) }, {}, 'grant and user live'],
    ['a code whose scopes the client no longer has is refused', {}, { clientScopes: ['write'] }, 'allowed for the client now'],
    ['another redirect URI is refused', {}, { redirectUri: 'https://app.example/other' }, 'same redirect URI'],
    ['a missing redirect URI that was in the request is refused', {}, { redirectUri: undefined }, 'same redirect URI'],
    ['a missing redirect URI that was not in the request passes', { redirectUriInRequest: false }, { redirectUri: undefined }, undefined],
    ['a matching verifier passes', { codeChallenge: challenge, codeChallengeMethod: 'S256' }, { codeVerifier: verifier }, undefined],
    ['a missing verifier is refused', { codeChallenge: challenge, codeChallengeMethod: 'S256' }, {}, 'PKCE verifier matches'],
    ['a wrong verifier is refused', { codeChallenge: challenge, codeChallengeMethod: 'S256' }, { codeVerifier: 'b'.repeat(43) }, 'PKCE verifier matches'],
    ['a verifier without challenge is refused (downgrade)', {}, { codeVerifier: verifier }, 'PKCE verifier matches'],
  ];
  it.each(cases)('when %s', (_name, row, ctx, rule) => {
    const v = firstViolation(codeRules, code(row), codeCtx(ctx));
    expect(v?.rule).toBe(rule);
    if (rule) expect(v?.error.code).toBe('invalid_grant');
  });

  it('when a spent code is presented, then the consequence is revoking what it issued', () => {
    expect(firstViolation(codeRules, code({ consumedAt: ago(1) }), codeCtx())?.consequence).toBe('revoke-issued-from-code');
  });
});

describe('access token rules', () => {
  const live = { revokedAt: null, expiresAt: new Date(now.getTime() + 1000), grantRevokedAt: null, userDisabledAt: null };
  it.each([
    ['a live token is live', {}, true],
    ['a revoked token is dead', { revokedAt: ago(1) }, false],
    ['an expired token is dead', { expiresAt: ago(0) }, false],
    ['a token of a revoked grant is dead', { grantRevokedAt: ago(1) }, false],
    ['a token of a disabled user is dead', { userDisabledAt: ago(1) }, false],
  ])('when %s', (_name, over, expected) => {
    expect(isLiveAccessToken({ ...live, ...over }, now)).toBe(expected);
  });
});
