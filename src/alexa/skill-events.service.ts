import { sha256, TOKEN_PREFIX } from '../lib/crypto';
import { AppError } from '../lib/errors';
import { parseInput } from '../lib/validation';
import { OAuthClient } from '../oauth/domain';
import { GrantService } from '../oauth/grants/grant.service';
import { Metrics } from '../metrics/metrics';
import { UnitOfWork } from '../oauth/revocation/unit-of-work';
import { AccessTokenRepository } from '../oauth/store/access-token.repository';
import { LinkTimeline } from '../oauth/timeline/link-timeline.service';
import { accountLinkedEventSchema, SKILL_ACCOUNT_LINKED, SKILL_DISABLED, skillDisabledEventSchema, skillEventEnvelopeSchema } from './skill-events.schema';

/** Skill event types named as themselves in the metrics and timelines; any other is "other" (bounded labels). */
const KNOWN_TYPES = new Set([
  SKILL_ACCOUNT_LINKED,
  SKILL_DISABLED,
  'AlexaSkillEvent.SkillEnabled',
  'AlexaSkillEvent.SkillPermissionAccepted',
  'AlexaSkillEvent.SkillPermissionChanged',
  'AlexaSkillEvent.ProactiveSubscriptionChanged',
]);
const typeLabel = (type: string) => (KNOWN_TYPES.has(type) ? type.replace('AlexaSkillEvent.', '') : 'other');
/** Bridged links (issue 15): their access tokens are the upstream's, and their upstream must hear of a disable. */
export interface BridgedLinks {
  grantForAccessToken(client: OAuthClient, accessToken: string): Promise<number | undefined>;
  settleRevokedGrants(): Promise<number>;
}

export type SkillEventResult =
  | { status: 'recorded' }
  | { status: 'revoked'; grants_revoked: number }
  | { status: 'ignored' };

/**
 * Skill events a skill forwards to us, so that links stay true (alexa.md, "After linking").
 * Every rule is scoped to the authenticated client: a client can record an Alexa user only on a
 * grant its own live token belongs to, and revoke only its own grants. Each event is idempotent,
 * so Alexa's (or the skill's) retries are harmless.
 */
export class SkillEventService {
  constructor(
    private readonly accessTokens: AccessTokenRepository,
    private readonly grants: GrantService,
    private readonly uow: UnitOfWork,
    private readonly timeline: LinkTimeline,
    private readonly metrics: Metrics,
    private readonly bridged?: BridgedLinks,
  ) {}

  /** Handles one event envelope; throws ValidationError (400) when it is not shaped like Alexa's. */
  async handle(client: OAuthClient, input: unknown): Promise<{ type: string; result: SkillEventResult }> {
    const handled = await this.dispatch(client, input);
    this.metrics.skillEvent(typeLabel(handled.type), handled.result.status);
    return handled;
  }

  private async dispatch(client: OAuthClient, input: unknown): Promise<{ type: string; result: SkillEventResult }> {
    const event = parseInput(skillEventEnvelopeSchema, input);
    const type = event.request.type;
    const userId = event.context.System.user.userId;
    if (type === SKILL_ACCOUNT_LINKED) {
      const linked = parseInput(accountLinkedEventSchema, input);
      return { type, result: await this.accountLinked(client, userId, linked.request.body.accessToken) };
    }
    if (type === SKILL_DISABLED) {
      parseInput(skillDisabledEventSchema, input);
      return { type, result: await this.disabled(client, userId) };
    }
    // SkillEnabled, SkillPermissionAccepted, ... and whatever Alexa adds later: nothing to keep
    // true, but the links of that Alexa user note that it came.
    for (const g of await this.grants.findLiveByAlexaUser(client.id, userId)) {
      this.timeline.record({ userId: g.userId, clientId: g.clientId, grantId: g.id, type: 'skill_event', reason: typeLabel(type) });
    }
    return { type, result: { status: 'ignored' } };
  }

  /**
   * Records the Alexa user on the grant of the event's access token. The token must be live and
   * issued to the calling client; otherwise nothing is recorded and the caller gets 400
   * invalid_token (the same answer whether the token is unknown, dead or another client's).
   */
  private async accountLinked(client: OAuthClient, alexaUserId: string, accessToken: string): Promise<SkillEventResult> {
    const info = accessToken.startsWith(TOKEN_PREFIX.accessToken) ? await this.accessTokens.findLive(sha256(accessToken)) : undefined;
    if (!info && this.bridged && accessToken.length <= 8192) {
      // A bridge hands Alexa the upstream's access token: the link it belongs to names the grant.
      const grantId = await this.bridged.grantForAccessToken(client, accessToken);
      if (grantId !== undefined) {
        await this.grants.recordAlexaUser(grantId, alexaUserId);
        return { status: 'recorded' };
      }
    }
    if (!info || info.clientId !== client.clientId) {
      throw new AppError(400, 'invalid_token', 'The access token in the event is not a live token issued to this client; nothing was recorded.');
    }
    await this.grants.recordAlexaUser(info.grantId, alexaUserId);
    this.timeline.record({ userId: info.userId, clientId: client.id, grantId: info.grantId, type: 'skill_event', reason: typeLabel(SKILL_ACCOUNT_LINKED) });
    return { status: 'recorded' };
  }

  /** Amazon asks providers to revoke on disable: every live grant of this client recorded for the user, in one transaction. */
  private async disabled(client: OAuthClient, alexaUserId: string): Promise<SkillEventResult> {
    // One transaction of its own, and it returns once every process has heard the revocation. The
    // event goes on each link's timeline first, then who revoked it.
    const live = await this.grants.findLiveByAlexaUser(client.id, alexaUserId);
    const revoked = await this.uow.run(async (tx) => {
      await this.timeline.recordIn(tx.trx, live.map((g) => ({ userId: g.userId, clientId: g.clientId, grantId: g.id, type: 'skill_event' as const, reason: typeLabel(SKILL_DISABLED) })));
      return this.grants.revoke(tx, { clientId: client.id, alexaUserId }, 'skill event');
    });
    // Bridged links end with their grant; their upstream hears of it too, where it can be told.
    if (revoked && this.bridged) await this.bridged.settleRevokedGrants();
    return { status: 'revoked', grants_revoked: revoked };
  }
}
