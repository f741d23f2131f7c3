import { createHash } from 'node:crypto';
import { sha256 } from '../../src/lib/crypto';
import { OAuthError } from '../../src/lib/errors';
import { IssuedTokens, RefreshRotation } from '../../src/oauth/domain';
import { CodeContext } from '../../src/oauth/rules/code.rules';
import { RefreshContext } from '../../src/oauth/rules/refresh-token.rules';
import { createTestContext, TestContext } from '../support/context';
import { freshLink } from '../support/grant-fixtures';

/**
 * Every grant rule runs in two places: as SQL in the one-statement fast path and as a function in
 * the locked path. For each fixture both paths run on identical, separate state; they must agree:
 * the fast path succeeds exactly when the locked one does, with the same tokens' shape and the
 * same rows changed; when it refuses it changes nothing, and the locked path names the error and
 * applies the consequence.
 */

let ctx: TestContext;
beforeAll(() => {
  ctx = createTestContext();
});
afterAll(() => ctx.close());

type Outcome = { ok: true; tokens: IssuedTokens } | { ok: false; error: OAuthError };
const settle = (p: Promise<IssuedTokens>): Promise<Outcome> =>
  p.then(
    (tokens) => ({ ok: true as const, tokens }),
    (error: unknown) => {
      if (error instanceof OAuthError) return { ok: false as const, error };
      throw error;
    },
  );

/** What a grant's tables look like, minus ids and token values. */
async function snapshot(grantId: number) {
  const k = ctx.knex;
  const [grant] = await k('oauth_grants').where({ id: grantId }).select('revoked_at');
  const refresh = await k('oauth_refresh_tokens').where({ grant_id: grantId }).orderBy('id').select('scope', 'revoked_at', 'rotated_at');
  const access = await k('oauth_access_tokens').where({ grant_id: grantId }).orderBy('id').select('scope', 'revoked_at');
  const codes = await k('oauth_authorization_codes').where({ grant_id: grantId }).orderBy('id').select('consumed_at');
  const set = (v: unknown) => v !== null;
  return {
    grantRevoked: set(grant.revoked_at),
    refresh: refresh.map((r) => ({ scope: r.scope, revoked: set(r.revoked_at), rotated: set(r.rotated_at) })),
    access: access.map((a) => ({ scope: a.scope, revoked: set(a.revoked_at) })),
    codes: codes.map((c) => set(c.consumed_at)),
  };
}

describe('refresh token rules: the one-statement path and the locked path agree', () => {
  interface Fixture {
    name: string;
    /** Changes the state after the pair was issued. */
    arrange?: (f: { refreshHash: string; grantId: number; userId: number; rotateOnce: () => Promise<unknown> }) => Promise<unknown>;
    otherClient?: boolean;
    scope?: string[];
    /** The client's scopes now (narrowed since the link). */
    clientScopes?: string[];
    /** Expected error code of the locked path; undefined: success. */
    error?: string;
    grantRevokedAfter?: RefreshRotation[];
  }
  const past = (seconds: number) => new Date(Date.now() - seconds * 1000);
  const fixtures: Fixture[] = [
    { name: 'a live token' },
    { name: 'a token of another client', otherClient: true, error: 'invalid_grant' },
    { name: 'a revoked token', arrange: (f) => ctx.knex('oauth_refresh_tokens').where({ token_hash: f.refreshHash }).update({ revoked_at: new Date() }), error: 'invalid_grant' },
    { name: 'a revoked grant', arrange: (f) => ctx.knex('oauth_grants').where({ id: f.grantId }).update({ revoked_at: new Date() }), error: 'invalid_grant' },
    { name: 'a disabled user', arrange: (f) => ctx.knex('users').where({ id: f.userId }).update({ disabled_at: new Date() }), error: 'invalid_grant' },
    { name: 'an expired token', arrange: (f) => ctx.knex('oauth_refresh_tokens').where({ token_hash: f.refreshHash }).update({ expires_at: past(1) }), error: 'invalid_grant' },
    { name: 'a wider scope than the token', arrange: (f) => ctx.knex('oauth_refresh_tokens').where({ token_hash: f.refreshHash }).update({ scope: ['read'] }), scope: ['read', 'write'], error: 'invalid_scope' },
    { name: 'a narrower scope', scope: ['read'] },
    { name: 'a token of a client narrowed to read', clientScopes: ['read'] },
    { name: 'a request for a scope the client lost', clientScopes: ['read'], scope: ['write'], error: 'invalid_scope' },
    { name: 'a token whose every scope the client lost', arrange: (f) => ctx.knex('oauth_refresh_tokens').where({ token_hash: f.refreshHash }).update({ scope: ['write'] }), clientScopes: ['read'], error: 'invalid_grant' },
    {
      name: 'a token already refreshed once (a retry)',
      arrange: async (f) => {
        await f.rotateOnce();
        await ctx.knex('oauth_refresh_tokens').where({ token_hash: f.refreshHash }).update({ rotated_at: past(10) });
      },
    },
    {
      name: 'a token rotated past the grace window',
      arrange: async (f) => {
        await f.rotateOnce();
        await ctx.knex('oauth_refresh_tokens').where({ token_hash: f.refreshHash }).update({ rotated_at: past(3600) });
      },
      error: 'invalid_grant',
      grantRevokedAfter: ['rotate'],
    },
  ];

  async function arranged(fixture: Fixture, rotation: RefreshRotation) {
    const link = await freshLink(ctx, { rotation });
    const issued = await ctx.knex.transaction((trx) => link.issuer.pair(trx, link.client, { grantId: link.grant.id, userId: link.user.id, scope: link.scope, authorizationCodeId: null }));
    const rotateOnce = () => link.refreshGrant.handle(link.client, { refresh_token: issued.refreshToken! });
    await fixture.arrange?.({ refreshHash: sha256(issued.refreshToken!), grantId: link.grant.id, userId: link.user.id, rotateOnce });
    const presenting = fixture.otherClient ? (await ctx.services.clients.create({ name: 'Other', redirectUris: ['https://other.example/cb'], refreshRotation: rotation })).client : link.client;
    const clientScopes = fixture.clientScopes ?? presenting.scopes;
    const rc = (): RefreshContext => ({ clientId: presenting.id, clientScopes, now: new Date(), scope: fixture.scope ?? null, graceSeconds: ctx.config.tokens.refreshGraceSeconds, rotate: rotation === 'rotate' });
    return { link, token: issued.refreshToken!, presenting: { ...presenting, scopes: clientScopes }, rc };
  }

  for (const rotation of ['off', 'rotate'] as const) {
    for (const fixture of fixtures) {
      it(`when ${fixture.name} is refreshed (rotation ${rotation}), then both paths ${fixture.error ? `refuse it (${fixture.error})` : 'issue the same'}`, async () => {
        const a = await arranged(fixture, rotation);
        const before = await snapshot(a.link.grant.id);
        const fast = await a.link.refreshGrant.inOneStatement(a.presenting, a.token, a.rc());
        const afterFast = await snapshot(a.link.grant.id);

        const b = await arranged(fixture, rotation);
        const locked = await settle(b.link.refreshGrant.inLockedTransaction(b.presenting, b.token, b.rc));
        const afterLocked = await snapshot(b.link.grant.id);

        expect(fast !== undefined).toBe(locked.ok);
        if (fixture.error) {
          expect(locked.ok).toBe(false);
          expect(!locked.ok && locked.error.code).toBe(fixture.error);
          expect(afterFast).toEqual(before); // the fast path refused without a trace
          expect(afterLocked.grantRevoked).toBe(before.grantRevoked || (fixture.grantRevokedAfter ?? []).includes(rotation));
        } else {
          expect(locked.ok).toBe(true);
          const l = (locked as { tokens: IssuedTokens }).tokens;
          expect(fast!.scope).toEqual(l.scope);
          expect(fast!.expiresIn).toBe(l.expiresIn);
          expect(fast!.refreshToken === a.token).toBe(l.refreshToken === b.token);
          expect(afterFast).toEqual(afterLocked);
        }
      });
    }
  }
});

describe('authorization code rules: the one-statement path and the locked path agree', () => {
  const verifier = 'v'.repeat(50);
  const challenge = createHash('sha256').update(verifier).digest('base64url');

  interface Fixture {
    name: string;
    withChallenge?: boolean;
    redirectUriInRequest?: boolean;
    arrange?: (f: { codeHash: string; grantId: number; userId: number }) => Promise<unknown>;
    otherClient?: boolean;
    clientScopes?: string[];
    request?: Partial<Pick<CodeContext, 'redirectUri' | 'codeVerifier'>>;
    error?: string;
    /** The locked path spends the code although it refuses. */
    spent?: boolean;
  }
  const fixtures: Fixture[] = [
    { name: 'a fresh code' },
    { name: 'a fresh code with PKCE', withChallenge: true, request: { codeVerifier: verifier } },
    { name: 'a code of another client', otherClient: true, error: 'invalid_grant' },
    { name: 'an expired code', arrange: (f) => ctx.knex('oauth_authorization_codes').where({ code_hash: f.codeHash }).update({ expires_at: new Date(Date.now() - 1000) }), error: 'invalid_grant', spent: true },
    { name: 'a code of a revoked grant', arrange: (f) => ctx.knex('oauth_grants').where({ id: f.grantId }).update({ revoked_at: new Date() }), error: 'invalid_grant', spent: true },
    { name: 'a code of a disabled user', arrange: (f) => ctx.knex('users').where({ id: f.userId }).update({ disabled_at: new Date() }), error: 'invalid_grant', spent: true },
    { name: 'a code of a client narrowed to read', clientScopes: ['read'] },
    { name: 'a code whose every scope the client lost', clientScopes: [], error: 'invalid_grant', spent: true },
    { name: 'a code with another redirect URI', redirectUriInRequest: true, request: { redirectUri: 'https://app.example/other' }, error: 'invalid_grant', spent: true },
    { name: 'a code without its redirect URI', redirectUriInRequest: true, request: {}, error: 'invalid_grant', spent: true },
    { name: 'a PKCE code without verifier', withChallenge: true, request: {}, error: 'invalid_grant', spent: true },
    { name: 'a PKCE code with a wrong verifier', withChallenge: true, request: { codeVerifier: 'w'.repeat(50) }, error: 'invalid_grant', spent: true },
    { name: 'a verifier for a code without challenge', request: { codeVerifier: verifier }, error: 'invalid_grant', spent: true },
  ];

  async function arranged(fixture: Fixture) {
    const link = await freshLink(ctx);
    const code = await ctx.knex.transaction((trx) =>
      link.issuer.code(trx, {
        grantId: link.grant.id,
        redirectUri: 'https://app.example/cb',
        redirectUriInRequest: fixture.redirectUriInRequest ?? false,
        scope: link.scope,
        codeChallenge: fixture.withChallenge ? challenge : null,
        codeChallengeMethod: fixture.withChallenge ? 'S256' : null,
      }),
    );
    await fixture.arrange?.({ codeHash: sha256(code), grantId: link.grant.id, userId: link.user.id });
    const presenting = fixture.otherClient ? (await ctx.services.clients.create({ name: 'Other', redirectUris: ['https://other.example/cb'] })).client : link.client;
    const request = fixture.request ?? (fixture.redirectUriInRequest ? { redirectUri: 'https://app.example/cb' } : {});
    const clientScopes = fixture.clientScopes ?? presenting.scopes;
    const cc = (): CodeContext => ({ clientId: presenting.id, clientScopes, now: new Date(), ...request });
    return { link, code, presenting: { ...presenting, scopes: clientScopes }, cc };
  }

  for (const fixture of fixtures) {
    it(`when ${fixture.name} is redeemed, then both paths ${fixture.error ? `refuse it (${fixture.error})` : 'issue the same'}`, async () => {
      const a = await arranged(fixture);
      const before = await snapshot(a.link.grant.id);
      const fast = await a.link.codeGrant.inOneStatement(a.presenting, a.code, a.cc());
      const afterFast = await snapshot(a.link.grant.id);

      const b = await arranged(fixture);
      const locked = await settle(b.link.codeGrant.inLockedTransaction(b.presenting, b.code, b.cc));
      const afterLocked = await snapshot(b.link.grant.id);

      expect(fast !== undefined).toBe(locked.ok);
      if (fixture.error) {
        expect(!locked.ok && locked.error.code).toBe(fixture.error);
        expect(afterFast).toEqual(before);
        expect(afterLocked.codes).toEqual([fixture.spent === true]);
        expect(afterLocked.access).toEqual([]);
      } else {
        expect(fast!.scope).toEqual((locked as { tokens: IssuedTokens }).tokens.scope);
        expect(afterFast).toEqual(afterLocked);
      }
    });
  }

  it('when a redeemed code is presented again, then the locked path revokes what it issued and the fast path refuses without a trace', async () => {
    const a = await arranged({ name: 'replay' });
    expect(await a.link.codeGrant.inOneStatement(a.presenting, a.code, a.cc())).toBeDefined();
    const issued = await snapshot(a.link.grant.id);
    expect(await a.link.codeGrant.inOneStatement(a.presenting, a.code, a.cc())).toBeUndefined();
    expect(await snapshot(a.link.grant.id)).toEqual(issued);
    const replay = await settle(a.link.codeGrant.inLockedTransaction(a.presenting, a.code, a.cc));
    expect(!replay.ok && replay.error.code).toBe('invalid_grant');
    const after = await snapshot(a.link.grant.id);
    expect(after.access.every((t) => t.revoked)).toBe(true);
    expect(after.refresh.every((t) => t.revoked)).toBe(true);
  });
});
