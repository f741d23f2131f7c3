import { ThrottleRepository } from '../auth/throttle.repository';
import { GrantService } from '../oauth/grants/grant.service';
import { AccessTokenRepository } from '../oauth/store/access-token.repository';
import { CodeRepository } from '../oauth/store/code.repository';
import { ConsentRepository } from '../oauth/store/consent.repository';
import { RefreshTokenRepository } from '../oauth/store/refresh-token.repository';

const REVOKED_LINKS_KEPT_DAYS = 30;

export interface CleanupResult {
  codes: number;
  access_tokens: number;
  refresh_tokens: number;
  revoked_links: number;
  consent_requests: number;
  sessions: number;
  login_throttles: number;
  account_links: number;
}

/** Removes what can never be used again (tokens:cleanup, from cron); safe while serving. */
export class CleanupService {
  constructor(
    private readonly store: {
      codes: CodeRepository;
      accessTokens: AccessTokenRepository;
      refreshTokens: RefreshTokenRepository;
      consents: ConsentRepository;
      throttles: ThrottleRepository;
      sessions: { deleteExpired(now: Date): Promise<number> };
      accountTokens: { deleteDead(now: Date): Promise<number> };
    },
    private readonly grants: GrantService,
    private readonly settings: { throttleWindowSeconds: number; refreshReuseDetectionDays: number },
  ) {}

  async run(now = new Date()): Promise<CleanupResult> {
    const s = this.store;
    return {
      codes: await s.codes.deleteExpired(now),
      access_tokens: await s.accessTokens.deleteDead(now),
      refresh_tokens: await s.refreshTokens.deleteDead(now, this.settings.refreshReuseDetectionDays),
      revoked_links: await this.grants.deleteRevokedBefore(new Date(now.getTime() - REVOKED_LINKS_KEPT_DAYS * 24 * 3600 * 1000)),
      consent_requests: await s.consents.deleteExpired(),
      sessions: await s.sessions.deleteExpired(now),
      login_throttles: await s.throttles.deleteExpired(this.settings.throttleWindowSeconds),
      account_links: await s.accountTokens.deleteDead(now),
    };
  }
}
