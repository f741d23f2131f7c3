import { OAuthError, oauthErrors, refusedBy } from '../../../lib/errors';
import { sha256, TOKEN_PREFIX } from '../../../lib/crypto';
import { IssuedTokens, OAuthClient } from '../../domain';
import { GrantService } from '../../grants/grant.service';
import { UnitOfWork } from '../../revocation/unit-of-work';
import { issuedScope, RefreshContext, refreshTokenRules } from '../../rules/refresh-token.rules';
import { firstViolation } from '../../rules/rule';
import { parseScopeString, sortScopes } from '../../scopes';
import { RefreshTokenRepository } from '../../store/refresh-token.repository';
import { LinkTimeline } from '../../timeline/link-timeline.service';
import { TokenIssuer } from '../token-issuer';
import { GrantHandler } from './grant-handler';

/** The reason label of a refresh token we do not know (no rule applies: there is no row). */
const UNKNOWN_TOKEN = 'unknown token';
/** A refresh answered with the successor already issued (a lost response retried, a race). */
const RETRY = 'retry within the grace window';

/**
 * RFC 6749 §6. Policy `off`: the same refresh token keeps working (Alexa's default; a lost
 * response costs nothing). Policy `rotate`: a new refresh token each time; the previous one
 * still works for the grace window (retries, two refreshes at once), and its reuse after the
 * window revokes the grant. Scope may narrow, never widen. Load -> check (refreshTokenRules) ->
 * issue: in one statement when every rule passes (Alexa refreshes every linked user hourly), else
 * in a locked transaction that decides the exact error and its consequence.
 */
export class RefreshTokenGrant implements GrantHandler {
  readonly grantType = 'refresh_token';

  constructor(
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly issuer: TokenIssuer,
    private readonly grants: GrantService,
    private readonly uow: UnitOfWork,
    private readonly timeline: LinkTimeline,
  ) {}

  async handle(client: OAuthClient, params: Record<string, string>): Promise<IssuedTokens> {
    if (!params.refresh_token) throw oauthErrors.invalidRequest('The refresh_token parameter is missing.');
    if (!params.refresh_token.startsWith(TOKEN_PREFIX.refreshToken)) throw refusedBy(oauthErrors.invalidGrant('The refresh token is invalid.'), UNKNOWN_TOKEN);
    // An empty scope parameter was already dropped: it counts as omitted (RFC 6749 §3.1).
    const requested = params.scope !== undefined ? parseScopeString(params.scope) : [];
    const ctx = (): RefreshContext => ({
      clientId: client.id,
      now: new Date(),
      scope: requested.length ? sortScopes(requested) : null,
      clientScopes: client.scopes,
      graceSeconds: this.issuer.settings.refreshGraceSeconds,
      rotate: client.refreshRotation === 'rotate',
    });
    return (await this.inOneStatement(client, params.refresh_token, ctx())) ?? this.inLockedTransaction(client, params.refresh_token, ctx);
  }

  /** Every rule in the statement's WHERE clause: issue when they all pass, else undefined. */
  async inOneStatement(client: OAuthClient, presented: string, ctx: RefreshContext): Promise<IssuedTokens | undefined> {
    const next = this.issuer.newValues(client, false);
    const successor = ctx.rotate ? this.issuer.successorOf(presented) : undefined;
    const done = await this.refreshTokens.refreshInOneStatement({
      refreshHash: sha256(presented),
      clientId: ctx.clientId,
      scope: ctx.scope,
      graceSeconds: ctx.graceSeconds,
      clientScopes: ctx.clientScopes,
      access: { tokenHash: sha256(next.accessToken), expiresAt: next.accessTokenExpiresAt },
      rotate: successor ? { tokenHash: sha256(successor), expiresAt: next.refreshTokenExpiresAt } : undefined,
    });
    if (!done) return undefined;
    // In memory: the timeline costs the hot path no round trip (written in the next batch).
    this.timeline.record({ userId: done.userId, clientId: client.id, grantId: done.grantId, type: 'refreshed', reason: done.retried ? RETRY : null });
    return { ...next, refreshToken: successor ?? presented, refreshTokenExpiresAt: done.refreshExpiresAt, scope: done.scope, userId: done.userId, grantId: done.grantId };
  }

  /** The token's row read (locked under rotation) and every rule applied in order, with its consequence. */
  inLockedTransaction(client: OAuthClient, presented: string, ctx: () => RefreshContext): Promise<IssuedTokens> {
    return this.uow.run(async (tx) => {
      const c = ctx();
      const rt = await this.refreshTokens.findIn(tx.trx, sha256(presented), c.rotate);
      if (!rt) return refusedBy(oauthErrors.invalidGrant('The refresh token is invalid.'), UNKNOWN_TOKEN);
      const link = { userId: rt.userId, clientId: rt.clientId, grantId: rt.grantId };
      // Recorded in this transaction, which commits whatever the answer: the timeline keeps the refusal.
      const refuse = async (reason: string, error: OAuthError) => {
        await this.timeline.recordIn(tx.trx, [{ ...link, type: 'refresh_refused', reason }]);
        return refusedBy(error, reason);
      };
      const refreshed = (reason: string | null) => this.timeline.recordIn(tx.trx, [{ ...link, type: 'refreshed', reason }]);
      const refused = firstViolation(refreshTokenRules, rt, c);
      if (refused) {
        const error = await refuse(refused.rule, refused.error);
        if (refused.consequence === 'revoke-grant') await this.grants.revoke(tx, { id: rt.grantId }, 'replay');
        return error;
      }
      const scope = issuedScope(rt, c);
      const g = { grantId: rt.grantId, userId: rt.userId, scope, authorizationCodeId: rt.authorizationCodeId };
      if (!c.rotate) {
        const access = await this.issuer.access(tx.trx, client, g, rt.id);
        await refreshed(null);
        return { ...access, refreshToken: presented, refreshTokenExpiresAt: rt.expiresAt };
      }
      const successor = this.issuer.successorOf(presented);
      if (rt.rotatedAt && rt.replacedById !== null) {
        // A retry within the grace window: answer with the successor already issued, so the grant
        // keeps one live chain (RFC 9700 §4.14.2), with a new access token under it.
        const issued = await this.refreshTokens.findSuccessor(tx.trx, rt.replacedById);
        if (issued && issued.tokenHash === sha256(successor)) {
          if (issued.revokedAt) return refuse('not revoked', oauthErrors.invalidGrant('The refresh token has been revoked.'));
          const access = await this.issuer.access(tx.trx, client, g, issued.id);
          await refreshed(RETRY);
          return { ...access, refreshToken: successor, refreshTokenExpiresAt: issued.expiresAt };
        }
        // A successor we cannot reproduce (rotated before successors were derived, or under
        // another server secret): the chain that grew from it goes, a new one takes its place.
        await this.refreshTokens.revokeDescendants(tx.trx, rt.id);
      }
      // The new refresh token keeps the full scope; a narrowing applies to the access token only.
      const issued = await this.issuer.pair(tx.trx, client, { ...g, scope: rt.scope }, scope, successor);
      await this.refreshTokens.markRotated(tx.trx, rt.id, issued.refreshTokenId);
      await refreshed(rt.rotatedAt ? 'successor replaced' : null);
      return issued;
    });
  }
}
