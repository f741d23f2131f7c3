import { OAuthError, oauthErrors, refusedBy } from '../../../lib/errors';
import { sha256, TOKEN_PREFIX } from '../../../lib/crypto';
import { IssuedTokens, OAuthClient } from '../../domain';
import { UnitOfWork } from '../../revocation/unit-of-work';
import { CodeContext, codeChecks, codeGuards, codeIssuedScope, codeRules } from '../../rules/code.rules';
import { firstViolation } from '../../rules/rule';
import { CodeRepository } from '../../store/code.repository';
import { LinkTimeline } from '../../timeline/link-timeline.service';
import { TokenIssuer } from '../token-issuer';
import { GrantHandler } from './grant-handler';

/** The reason label of a code we do not know (no rule applies: there is no row). */
const UNKNOWN_CODE = 'unknown code';
const PKCE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/; // RFC 7636 §4.1

/**
 * RFC 6749 §4.1.3 with RFC 7636 §4.6: redeem a code exactly once. Load the code, check it against
 * the code rules, issue a pair. The common case is one read and one atomic statement; anything
 * else, including losing a race to a parallel redemption, takes the locked path, which decides
 * the exact error and its consequences with the same rules.
 */
export class AuthorizationCodeGrant implements GrantHandler {
  readonly grantType = 'authorization_code';

  constructor(
    private readonly codes: CodeRepository,
    private readonly issuer: TokenIssuer,
    private readonly uow: UnitOfWork,
    private readonly timeline: LinkTimeline,
  ) {}

  async handle(client: OAuthClient, params: Record<string, string>): Promise<IssuedTokens> {
    if (!params.code) throw oauthErrors.invalidRequest('The code parameter is missing.');
    if (!params.code.startsWith(TOKEN_PREFIX.authorizationCode)) throw refusedBy(oauthErrors.invalidGrant('The authorization code is invalid.'), UNKNOWN_CODE);
    if (params.code_verifier !== undefined && !PKCE_VERIFIER.test(params.code_verifier)) {
      throw oauthErrors.invalidRequest('The code_verifier is malformed (RFC 7636 §4.1).');
    }
    const ctx = (): CodeContext => ({ clientId: client.id, clientScopes: client.scopes, now: new Date(), redirectUri: params.redirect_uri, codeVerifier: params.code_verifier });
    return (await this.inOneStatement(client, params.code, ctx())) ?? this.inLockedTransaction(client, params.code, ctx);
  }

  /** Every rule passes on the row as read: consume and issue in one statement (which re-checks). */
  async inOneStatement(client: OAuthClient, presented: string, ctx: CodeContext): Promise<IssuedTokens | undefined> {
    const code = await this.codes.find(sha256(presented));
    if (!code || firstViolation(codeRules, code, ctx)) return undefined;
    const v = this.issuer.newValues(client, true);
    const scope = codeIssuedScope(code, ctx);
    const redeemed = await this.codes.redeemInOneStatement({
      codeId: code.id,
      scope,
      refresh: { tokenHash: sha256(v.refreshToken!), grantId: code.grantId, authorizationCodeId: code.id, scope, expiresAt: v.refreshTokenExpiresAt },
      access: { tokenHash: sha256(v.accessToken), grantId: code.grantId, refreshTokenId: null, authorizationCodeId: code.id, scope, expiresAt: v.accessTokenExpiresAt },
    });
    if (!redeemed) return undefined;
    this.timeline.record({ userId: code.userId, clientId: code.clientId, grantId: code.grantId, type: 'code_redeemed' });
    return { ...v, scope, userId: code.userId, grantId: code.grantId };
  }

  /** The code's row locked: guards, then the code is spent whatever the checks say, then checks. */
  inLockedTransaction(client: OAuthClient, presented: string, ctx: () => CodeContext): Promise<IssuedTokens> {
    return this.uow.run(async (tx) => {
      const code = await this.codes.findForUpdate(tx.trx, sha256(presented));
      if (!code) return refusedBy(oauthErrors.invalidGrant('The authorization code is invalid.'), UNKNOWN_CODE);
      // On the timeline of the code's own link (another client presenting it included), in this
      // transaction, which commits whatever the answer.
      const link = { userId: code.userId, clientId: code.clientId, grantId: code.grantId };
      const refuse = async (reason: string, error: OAuthError) => {
        await this.timeline.recordIn(tx.trx, [{ ...link, type: 'code_refused', reason }]);
        return refusedBy(error, reason);
      };
      const refused = firstViolation(codeGuards, code, ctx());
      if (refused) {
        const error = await refuse(refused.rule, refused.error);
        if (refused.consequence === 'revoke-issued-from-code') {
          await this.codes.revokeIssuedFrom(tx.trx, code);
          tx.revoked({ grants: [code.grantId] }); // evicts a little more than needed: safe
          await this.timeline.recordIn(tx.trx, [{ ...link, type: 'revoked', reason: 'by replay: the tokens issued from the code' }]);
        }
        return error;
      }
      await this.codes.consume(tx.trx, code.id);
      const c = ctx();
      const failed = firstViolation(codeChecks, code, c);
      if (failed) return refuse(failed.rule, failed.error);
      const issued = await this.issuer.pair(tx.trx, client, { grantId: code.grantId, userId: code.userId, scope: codeIssuedScope(code, c), authorizationCodeId: code.id });
      await this.timeline.recordIn(tx.trx, [{ ...link, type: 'code_redeemed' }]);
      return issued;
    });
  }
}
