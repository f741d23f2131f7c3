/**
 * What can happen to a link (a user's link with a client), in the order a link lives. The
 * reason, when there is one, comes from a small fixed set (rule names, who revoked, the skill
 * event's type): never anything a person or client typed.
 */
export const LINK_EVENT_TYPES = [
  'authorization_started',
  'sign_in_succeeded',
  'sign_in_failed',
  'consent_allowed',
  'consent_denied',
  'code_issued',
  'code_redeemed',
  'code_refused',
  'refreshed',
  'refresh_refused',
  'refresh_failed',
  'revoked',
  'skill_event',
  // Bridge mode (issue 15): the upstream's side of a bridged link.
  'upstream_linked',
  'upstream_callback_failed',
] as const;

export type LinkEventType = (typeof LINK_EVENT_TYPES)[number];

/** Who ended a link. */
export type RevokedBy = 'user' | 'admin' | 'client' | 'skill event' | 'replay' | 'upstream';

export interface LinkEvent {
  userId: number;
  clientId: number;
  /** Known from consent on; null before (authorization started, sign-in, a denial). */
  grantId: number | null;
  type: LinkEventType;
  reason: string | null;
  occurredAt: Date;
}

/** What the pages and the CLI say for each event. */
export const LINK_EVENT_LABELS: Record<LinkEventType, string> = {
  authorization_started: 'Authorization started',
  sign_in_succeeded: 'Signed in',
  sign_in_failed: 'Sign-in failed',
  consent_allowed: 'Consent allowed',
  consent_denied: 'Consent denied',
  code_issued: 'Code issued',
  code_redeemed: 'Code redeemed',
  code_refused: 'Code refused',
  refreshed: 'Refreshed',
  refresh_refused: 'Refresh refused',
  refresh_failed: 'Refresh failed (link kept, Alexa retries)',
  revoked: 'Revoked',
  skill_event: 'Skill event received',
  upstream_linked: 'Upstream callback: tokens received',
  upstream_callback_failed: 'Upstream callback failed',
};
