import { Knex } from 'knex';
import { createHmac } from 'node:crypto';
import { sha256, TOKEN_PREFIX, TokenGenerator } from '../../lib/crypto';
import { OOB_REDIRECT_URI } from '../clients/redirect-uris';
import { IssuedTokens, OAuthClient } from '../domain';
import { AccessTokenRepository } from '../store/access-token.repository';
import { CodeRepository } from '../store/code.repository';
import { RefreshTokenRepository } from '../store/refresh-token.repository';

export interface TokenSettings {
  authCodeTtlSeconds: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  refreshGraceSeconds: number;
  refreshReuseDetectionDays: number;
}

/**
 * A code shown on the out-of-band page is copied by a person into a command (curl, Postman): that
 * takes more than the short lifetime of a code Alexa redeems at once, so it gets RFC 6749
 * §4.1.2's recommended maximum, 10 minutes. Codes for real redirect URIs keep the short one.
 */
export const OOB_CODE_TTL_SECONDS = 600;

/** The grant a new token belongs to, and the code it came from (a replay revokes by it). */
export interface IssueFor {
  grantId: number;
  userId: number;
  scope: string[];
  authorizationCodeId: number | null;
}

/**
 * Mints codes and tokens: fresh values (only their hashes are stored), the client's lifetimes,
 * and the rows. Every grant and the authorize endpoint issue through here.
 */
export class TokenIssuer {
  private readonly random = new TokenGenerator();

  constructor(
    private readonly codes: CodeRepository,
    private readonly accessTokens: AccessTokenRepository,
    private readonly refreshTokens: RefreshTokenRepository,
    readonly settings: TokenSettings,
    /** Server secret for successors; a rotated token's successor is HMAC(key, token). */
    private readonly successorKey: Buffer,
  ) {}

  /**
   * The successor of a refresh token under rotation: derived, not drawn, so that a retry of the
   * same refresh within the grace window is answered with the same successor (only hashes are
   * stored; nobody without the key can compute it from a token).
   */
  successorOf(refreshToken: string): string {
    return TOKEN_PREFIX.refreshToken + createHmac('sha256', this.successorKey).update(refreshToken, 'utf8').digest('base64url');
  }

  accessTtl(client: OAuthClient): number {
    return client.accessTokenTtl ?? this.settings.accessTokenTtlSeconds;
  }

  refreshExpiry(client: OAuthClient): Date | null {
    const ttl = client.refreshTokenTtl ?? this.settings.refreshTokenTtlSeconds;
    return ttl > 0 ? new Date(Date.now() + ttl * 1000) : null;
  }

  /** Fresh values and lifetimes, not yet stored (the one-statement paths store them). */
  newValues(client: OAuthClient, withRefresh: boolean): { accessToken: string; accessTokenExpiresAt: Date; expiresIn: number; refreshToken?: string; refreshTokenExpiresAt: Date | null } {
    const expiresIn = this.accessTtl(client);
    return {
      accessToken: this.random.token(TOKEN_PREFIX.accessToken),
      accessTokenExpiresAt: new Date(Date.now() + expiresIn * 1000),
      expiresIn,
      refreshToken: withRefresh ? this.random.token(TOKEN_PREFIX.refreshToken) : undefined,
      refreshTokenExpiresAt: this.refreshExpiry(client),
    };
  }

  async code(
    trx: Knex.Transaction,
    input: { grantId: number; redirectUri: string; redirectUriInRequest: boolean; scope: string[]; codeChallenge: string | null; codeChallengeMethod: string | null },
  ): Promise<string> {
    const code = this.random.token(TOKEN_PREFIX.authorizationCode);
    const ttl = input.redirectUri === OOB_REDIRECT_URI ? OOB_CODE_TTL_SECONDS : this.settings.authCodeTtlSeconds;
    await this.codes.insert(trx, { ...input, codeHash: sha256(code), expiresAt: new Date(Date.now() + ttl * 1000) });
    return code;
  }

  /** An access token under `refreshTokenId` (null: the implicit grant's token of its own). */
  async access(trx: Knex.Transaction, client: OAuthClient, g: IssueFor, refreshTokenId: number | null): Promise<IssuedTokens> {
    const v = this.newValues(client, false);
    await this.accessTokens.insert(trx, {
      tokenHash: sha256(v.accessToken),
      grantId: g.grantId,
      refreshTokenId,
      authorizationCodeId: g.authorizationCodeId,
      scope: g.scope,
      expiresAt: v.accessTokenExpiresAt,
    });
    return { accessToken: v.accessToken, accessTokenExpiresAt: v.accessTokenExpiresAt, expiresIn: v.expiresIn, scope: g.scope, userId: g.userId, grantId: g.grantId };
  }

  /**
   * A refresh token with `g.scope` and an access token with `accessScope` (narrower on request).
   * `refreshToken`: a successor's value under rotation; otherwise a fresh one.
   */
  async pair(
    trx: Knex.Transaction,
    client: OAuthClient,
    g: IssueFor,
    accessScope = g.scope,
    refreshToken = this.random.token(TOKEN_PREFIX.refreshToken),
  ): Promise<IssuedTokens & { refreshTokenId: number }> {
    const refreshTokenExpiresAt = this.refreshExpiry(client);
    const refreshTokenId = await this.refreshTokens.insert(trx, {
      tokenHash: sha256(refreshToken),
      grantId: g.grantId,
      authorizationCodeId: g.authorizationCodeId,
      scope: g.scope,
      expiresAt: refreshTokenExpiresAt,
    });
    const access = await this.access(trx, client, { ...g, scope: accessScope }, refreshTokenId);
    return { ...access, refreshToken, refreshTokenExpiresAt, refreshTokenId };
  }
}
