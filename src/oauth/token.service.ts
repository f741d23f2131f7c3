import { createHash } from 'node:crypto';
import { Knex } from 'knex';
import { safeEqual, sha256, TOKEN_PREFIX, TokenGenerator } from '../lib/crypto';
import { OAuthError, oauthErrors } from '../lib/errors';
import { OAuthClient } from './client.repository';
import { GrantRepository } from './grant.repository';
import { sortScopes } from './scopes';
import { AuthorizationCode, TokenRepository } from './token.repository';

export interface TokenSettings {
  authCodeTtlSeconds: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  refreshGraceSeconds: number;
}

export interface IssuedTokens {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken?: string;
  refreshTokenExpiresAt?: Date | null;
  scope: string[];
  userId: number;
  grantId: number;
}

const PKCE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/; // RFC 7636 §4.1

/**
 * Issues, exchanges, refreshes, revokes and introspects tokens. Each grant runs in one
 * transaction with the rows it depends on locked, so it is all-or-nothing and race-safe. Errors
 * that must leave a trace (a replayed code revokes its tokens; a rotated refresh token reused
 * after the grace window revokes the grant) commit that trace first and then fail.
 */
export class TokenService {
  private readonly random = new TokenGenerator();

  constructor(
    private readonly db: Knex,
    private readonly tokens: TokenRepository,
    private readonly grants: GrantRepository,
    private readonly settings: TokenSettings,
  ) {}

  private accessTtl(client: OAuthClient): number {
    return client.accessTokenTtl ?? this.settings.accessTokenTtlSeconds;
  }

  private refreshExpiry(client: OAuthClient): Date | null {
    const ttl = client.refreshTokenTtl ?? this.settings.refreshTokenTtlSeconds;
    return ttl > 0 ? new Date(Date.now() + ttl * 1000) : null;
  }

  /** Runs `work` in a transaction; an OAuthError it returns is thrown after the commit. */
  private async commitThen<T>(work: (trx: Knex.Transaction) => Promise<T | OAuthError>): Promise<T> {
    const result = await this.db.transaction(work);
    if (result instanceof OAuthError) {
      await this.grants.revocationsDelivered(); // a replay or reuse may have revoked something
      throw result;
    }
    return result;
  }

  async createAuthorizationCode(
    input: { grantId: number; redirectUri: string; redirectUriInRequest: boolean; scope: string[]; codeChallenge: string | null; codeChallengeMethod: string | null },
    trx: Knex.Transaction,
  ): Promise<string> {
    const code = this.random.token(TOKEN_PREFIX.authorizationCode);
    await this.tokens.insertCode(
      { ...input, codeHash: sha256(code), expiresAt: new Date(Date.now() + this.settings.authCodeTtlSeconds * 1000) },
      trx,
    );
    return code;
  }

  /** An access token without a refresh token (implicit grant). */
  async issueAccessTokenOnly(client: OAuthClient, grantId: number, scope: string[], trx: Knex.Transaction) {
    const accessToken = this.random.token(TOKEN_PREFIX.accessToken);
    const expiresAt = new Date(Date.now() + this.accessTtl(client) * 1000);
    await this.tokens.insertAccessToken({ tokenHash: sha256(accessToken), grantId, refreshTokenId: null, authorizationCodeId: null, scope, expiresAt }, trx);
    return { accessToken, expiresAt, expiresIn: this.accessTtl(client) };
  }

  /**
   * RFC 6749 §4.1.3 with RFC 7636 §4.6: redeem a code exactly once. The common case (every check
   * passes) is one read and one atomic statement; anything else, including losing a race to a
   * parallel redemption, takes the locked path, which decides the exact error and its effects.
   */
  async exchangeCode(client: OAuthClient, params: CodeParams): Promise<IssuedTokens> {
    if (!params.code.startsWith(TOKEN_PREFIX.authorizationCode)) throw oauthErrors.invalidGrant('The authorization code is invalid.');
    if (params.codeVerifier !== undefined && !PKCE_VERIFIER.test(params.codeVerifier)) {
      throw oauthErrors.invalidRequest('The code_verifier is malformed (RFC 7636 §4.1).');
    }
    const code = await this.tokens.findCode(sha256(params.code));
    if (code && code.clientId === client.id && !code.consumedAt && !codeProblem(code, params)) {
      const issued = this.newPair(client, { grantId: code.grantId, userId: code.userId, scope: code.scope });
      const redeemed = await this.tokens.redeemCodeInOneStatement({
        codeId: code.id,
        refresh: { tokenHash: sha256(issued.refreshToken!), grantId: code.grantId, authorizationCodeId: code.id, scope: code.scope, expiresAt: issued.refreshTokenExpiresAt ?? null },
        access: { tokenHash: sha256(issued.accessToken), grantId: code.grantId, refreshTokenId: null, authorizationCodeId: code.id, scope: code.scope, expiresAt: issued.accessTokenExpiresAt },
      });
      if (redeemed) return issued;
    }
    return this.exchangeCodeLocked(client, params);
  }

  private exchangeCodeLocked(client: OAuthClient, params: CodeParams): Promise<IssuedTokens> {
    return this.commitThen(async (trx) => {
      const code = await this.tokens.findCodeForUpdate(sha256(params.code), trx);
      if (!code || code.clientId !== client.id) return oauthErrors.invalidGrant('The authorization code is invalid.');
      if (code.consumedAt) {
        // A replayed code: revoke everything issued from it (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
        await this.tokens.revokeIssuedFromCode(code.id, code.grantId, trx);
        return oauthErrors.invalidGrant('The authorization code has already been used.');
      }
      // From here on the code is spent whatever happens, so it cannot be guessed at (PKCE) twice.
      await this.tokens.consumeCode(code.id, trx);
      const problem = codeProblem(code, params);
      if (problem) return problem;
      return this.issuePair(client, { grantId: code.grantId, userId: code.userId, scope: code.scope, authorizationCodeId: code.id }, trx);
    });
  }

  /** Fresh token values and lifetimes for a grant (not yet stored); `withRefresh` false: access only. */
  private newPair(client: OAuthClient, g: { grantId: number; userId: number; scope: string[] }, withRefresh = true): IssuedTokens {
    return {
      accessToken: this.random.token(TOKEN_PREFIX.accessToken),
      accessTokenExpiresAt: new Date(Date.now() + this.accessTtl(client) * 1000),
      refreshToken: withRefresh ? this.random.token(TOKEN_PREFIX.refreshToken) : undefined,
      refreshTokenExpiresAt: this.refreshExpiry(client),
      scope: g.scope,
      userId: g.userId,
      grantId: g.grantId,
    };
  }

  /** A refresh token with `g.scope` and an access token with `accessScope` (narrower on request). */
  private async issuePair(
    client: OAuthClient,
    g: { grantId: number; userId: number; scope: string[]; authorizationCodeId: number | null },
    trx: Knex.Transaction,
    accessScope = g.scope,
  ): Promise<IssuedTokens & { refreshTokenId: number }> {
    const refreshToken = this.random.token(TOKEN_PREFIX.refreshToken);
    const refreshTokenExpiresAt = this.refreshExpiry(client);
    const refreshTokenId = await this.tokens.insertRefreshToken(
      { tokenHash: sha256(refreshToken), grantId: g.grantId, authorizationCodeId: g.authorizationCodeId, scope: g.scope, expiresAt: refreshTokenExpiresAt },
      trx,
    );
    const access = await this.issueAccess(client, { ...g, scope: accessScope }, refreshTokenId, trx);
    return { ...access, refreshToken, refreshTokenExpiresAt, refreshTokenId };
  }

  private async issueAccess(
    client: OAuthClient,
    g: { grantId: number; userId: number; scope: string[]; authorizationCodeId: number | null },
    refreshTokenId: number,
    trx: Knex.Transaction,
  ): Promise<IssuedTokens> {
    const accessToken = this.random.token(TOKEN_PREFIX.accessToken);
    const accessTokenExpiresAt = new Date(Date.now() + this.accessTtl(client) * 1000);
    await this.tokens.insertAccessToken(
      { tokenHash: sha256(accessToken), grantId: g.grantId, refreshTokenId, authorizationCodeId: g.authorizationCodeId, scope: g.scope, expiresAt: accessTokenExpiresAt },
      trx,
    );
    return { accessToken, accessTokenExpiresAt, scope: g.scope, userId: g.userId, grantId: g.grantId };
  }

  /**
   * RFC 6749 §6. Policy `off`: the same refresh token keeps working (Alexa's default; a lost
   * response costs nothing). Policy `rotate`: a new refresh token each time; the previous one
   * still works for the grace window (retries, two refreshes at once), and its reuse after the
   * window revokes the grant. Scope may narrow, never widen.
   */
  async refresh(client: OAuthClient, params: { refreshToken: string; scope?: string[] }): Promise<IssuedTokens> {
    if (!params.refreshToken.startsWith(TOKEN_PREFIX.refreshToken)) throw oauthErrors.invalidGrant('The refresh token is invalid.');
    const rotate = client.refreshRotation === 'rotate';
    // The common case in one atomic statement (Alexa refreshes every linked user hourly).
    const next = this.newPair(client, { grantId: 0, userId: 0, scope: [] }, rotate);
    const fast = await this.tokens.refreshInOneStatement({
      refreshHash: sha256(params.refreshToken),
      clientId: client.id,
      scope: params.scope ? sortScopes(params.scope) : null,
      access: { tokenHash: sha256(next.accessToken), expiresAt: next.accessTokenExpiresAt },
      graceSeconds: this.settings.refreshGraceSeconds,
      rotate: rotate ? { tokenHash: sha256(next.refreshToken!), expiresAt: next.refreshTokenExpiresAt ?? null } : undefined,
    });
    if (fast) {
      return {
        ...next,
        refreshToken: rotate ? next.refreshToken : params.refreshToken,
        refreshTokenExpiresAt: fast.refreshExpiresAt,
        scope: fast.scope,
        userId: fast.userId,
        grantId: fast.grantId,
      };
    }
    // Something is wrong (or it is a reuse past the grace window): the locked path decides.
    return this.refreshLocked(client, params, rotate);
  }

  private refreshLocked(client: OAuthClient, params: { refreshToken: string; scope?: string[] }, rotate: boolean): Promise<IssuedTokens> {
    return this.commitThen(async (trx) => {
      const rt = await this.tokens.findRefreshToken(sha256(params.refreshToken), trx, rotate);
      if (!rt || rt.clientId !== client.id) return oauthErrors.invalidGrant('The refresh token is invalid.');
      if (rt.revokedAt || rt.grantRevokedAt || rt.userDisabledAt) return oauthErrors.invalidGrant('The refresh token has been revoked.');
      if (rt.expiresAt && rt.expiresAt <= new Date()) return oauthErrors.invalidGrant('The refresh token has expired.');
      let scope = rt.scope;
      if (params.scope) {
        const wider = params.scope.filter((s) => !rt.scope.includes(s));
        if (wider.length) return oauthErrors.invalidScope(`The refresh token does not cover: ${wider.join(' ')}.`);
        scope = rt.scope.filter((s) => params.scope!.includes(s));
      }
      const g = { grantId: rt.grantId, userId: rt.userId, scope, authorizationCodeId: rt.authorizationCodeId };
      if (rt.rotatedAt && Date.now() > rt.rotatedAt.getTime() + this.settings.refreshGraceSeconds * 1000) {
        // Reuse of a rotated token after its grace window: under rotation a sign of theft, so the
        // grant goes; a client switched to `off` since just gets the error.
        if (!rotate) return oauthErrors.invalidGrant('The refresh token was replaced by a newer one.');
        await this.grants.revoke(rt.grantId, trx);
        return oauthErrors.invalidGrant('The refresh token was already used; the authorization has been revoked.');
      }
      if (!rotate) {
        const access = await this.issueAccess(client, g, rt.id, trx);
        return { ...access, refreshToken: params.refreshToken, refreshTokenExpiresAt: rt.expiresAt };
      }
      // The new refresh token keeps the full scope; a narrowing applies to the access token only.
      const issued = await this.issuePair(client, { ...g, scope: rt.scope }, trx, scope);
      if (!rt.rotatedAt) await this.tokens.markRotated(rt.id, issued.refreshTokenId, trx);
      return issued;
    });
  }

  /**
   * RFC 7009. An access token is revoked alone; a refresh token revokes its whole grant (the
   * link), with every access token issued under it. Unknown tokens and other clients' tokens are
   * ignored: the answer is the same 200 either way (§2.2).
   */
  async revoke(client: OAuthClient, token: string): Promise<void> {
    const hash = sha256(token);
    if (token.startsWith(TOKEN_PREFIX.refreshToken)) {
      const rt = await this.tokens.findRefreshToken(hash);
      if (rt && rt.clientId === client.id) await this.grants.revoke(rt.grantId);
      return;
    }
    if (token.startsWith(TOKEN_PREFIX.accessToken)) {
      const at = await this.tokens.findAccessTokenOwner(hash);
      if (at && at.clientId === client.id) await this.tokens.revokeAccessToken(at.id);
    }
  }

  /**
   * RFC 7662. Access tokens may be introspected by any confidential client (resource servers);
   * refresh tokens only by the client they were issued to. Anything not valid is {active:false}.
   */
  async introspect(client: OAuthClient, token: string, issuer: string): Promise<Record<string, unknown>> {
    const inactive = { active: false };
    const hash = sha256(token);
    if (token.startsWith(TOKEN_PREFIX.accessToken)) {
      const info = await this.tokens.findLiveAccessToken(hash);
      if (!info) return inactive;
      return {
        active: true,
        scope: info.scope.join(' '),
        client_id: info.clientId,
        sub: String(info.userId),
        token_type: 'Bearer',
        exp: Math.floor(info.expiresAt.getTime() / 1000),
        iss: issuer,
      };
    }
    if (token.startsWith(TOKEN_PREFIX.refreshToken)) {
      const rt = await this.tokens.findRefreshToken(hash);
      if (!rt || rt.clientId !== client.id || rt.revokedAt || rt.grantRevokedAt || rt.userDisabledAt) return inactive;
      if (rt.expiresAt && rt.expiresAt <= new Date()) return inactive;
      if (rt.rotatedAt && Date.now() > rt.rotatedAt.getTime() + this.settings.refreshGraceSeconds * 1000) return inactive;
      return {
        active: true,
        scope: rt.scope.join(' '),
        client_id: client.clientId,
        sub: String(rt.userId),
        token_type: 'refresh_token',
        ...(rt.expiresAt ? { exp: Math.floor(rt.expiresAt.getTime() / 1000) } : {}),
        iss: issuer,
      };
    }
    return inactive;
  }
}

interface CodeParams {
  code: string;
  redirectUri?: string;
  codeVerifier?: string;
}

/** Why an unconsumed code of the right client cannot be redeemed, if it cannot. */
function codeProblem(code: AuthorizationCode, params: CodeParams): OAuthError | undefined {
  if (code.expiresAt <= new Date()) return oauthErrors.invalidGrant('The authorization code has expired.');
  if (code.grantRevokedAt || code.userDisabledAt) return oauthErrors.invalidGrant('The authorization is no longer valid.');
  if ((code.redirectUriInRequest || params.redirectUri !== undefined) && params.redirectUri !== code.redirectUri) {
    return oauthErrors.invalidGrant('The redirect_uri does not match the one of the authorization request.');
  }
  if (code.codeChallenge) {
    if (params.codeVerifier === undefined) return oauthErrors.invalidGrant('The code_verifier is missing (PKCE).');
    const computed = createHash('sha256').update(params.codeVerifier, 'ascii').digest('base64url');
    if (!safeEqual(computed, code.codeChallenge)) return oauthErrors.invalidGrant('The code_verifier does not match the code_challenge.');
  } else if (params.codeVerifier !== undefined) {
    // A verifier for a request that had no challenge: a downgrade attempt (RFC 9700 §4.8.2).
    return oauthErrors.invalidGrant('A code_verifier was sent but the authorization request had no code_challenge.');
  }
  return undefined;
}
