import { randomBytes, randomUUID } from 'node:crypto';
import { RequestEnvelope } from 'ask-sdk-model';

/**
 * Request envelopes shaped like the ones Alexa sends a skill (request and response JSON
 * reference): version, session (for LaunchRequest and IntentRequest), context.System with the
 * user's userId and, once linked, our accessToken, and the request itself.
 */

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A userId like Alexa's: `amzn1.ask.account.` and about 200 upper-case letters and digits. */
export function alexaUserId(): string {
  return `amzn1.ask.account.${Array.from(randomBytes(200), (b) => BASE32[b % 32]).join('')}`;
}

export const skillId = () => `amzn1.ask.skill.${randomUUID()}`;

export interface EnvelopeUser {
  userId: string;
  accessToken?: string;
  applicationId?: string;
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function system(user: EnvelopeUser) {
  return {
    application: { applicationId: user.applicationId ?? 'amzn1.ask.skill.00000000-0000-0000-0000-000000000000' },
    user: { userId: user.userId, ...(user.accessToken !== undefined ? { accessToken: user.accessToken } : {}) },
    device: { deviceId: 'amzn1.ask.device.TEST', supportedInterfaces: {} },
    apiEndpoint: 'https://api.amazonalexa.com',
    apiAccessToken: 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.test.test',
  };
}

/** A skill event (AlexaSkillEvent.*): no session; SkillAccountLinked carries our token in request.body. */
export function skillEventEnvelope(type: string, user: EnvelopeUser, body?: Record<string, unknown>): Record<string, unknown> {
  return {
    version: '1.0',
    context: { System: system(user) },
    request: {
      type,
      requestId: `amzn1.echo-api.request.${randomUUID()}`,
      timestamp: now(),
      eventCreationTime: now(),
      eventPublishingTime: now(),
      ...(body ? { body } : {}),
    },
  };
}

export const accountLinkedEvent = (user: EnvelopeUser, accessToken: string) =>
  skillEventEnvelope('AlexaSkillEvent.SkillAccountLinked', { ...user, accessToken }, { accessToken });

export const skillDisabledEvent = (user: EnvelopeUser) =>
  skillEventEnvelope('AlexaSkillEvent.SkillDisabled', user, { userInformationPersistenceStatus: 'PERSISTED' });

/** One conversation's session: the same sessionId, `new` only on the first turn, attributes carried over. */
export class AlexaSession {
  readonly sessionId = `amzn1.echo-api.session.${randomUUID()}`;
  private turns = 0;
  attributes: Record<string, unknown> = {};

  constructor(readonly user: EnvelopeUser) {}

  private envelope(request: Record<string, unknown>): RequestEnvelope {
    const envelope = {
      version: '1.0',
      session: {
        new: this.turns === 0,
        sessionId: this.sessionId,
        application: { applicationId: this.user.applicationId ?? system(this.user).application.applicationId },
        attributes: this.attributes,
        user: system(this.user).user,
      },
      context: { System: system(this.user) },
      request: { requestId: `amzn1.echo-api.request.${randomUUID()}`, locale: 'en-US', timestamp: now(), ...request },
    };
    this.turns += 1;
    return envelope as unknown as RequestEnvelope;
  }

  launch(): RequestEnvelope {
    return this.envelope({ type: 'LaunchRequest' });
  }

  intent(name: string, slots: Record<string, string | undefined> = {}): RequestEnvelope {
    const slotObjects = Object.fromEntries(
      Object.entries(slots).map(([slot, value]) => [slot, { name: slot, confirmationStatus: 'NONE', ...(value !== undefined ? { value, source: 'USER' } : {}) }]),
    );
    return this.envelope({ type: 'IntentRequest', dialogState: 'COMPLETED', intent: { name, confirmationStatus: 'NONE', slots: slotObjects } });
  }

  sessionEnded(): RequestEnvelope {
    return this.envelope({ type: 'SessionEndedRequest', reason: 'USER_INITIATED' });
  }

  /** Keeps the attributes the skill answered with, as Alexa does for the next turn of the session. */
  remember(response: { sessionAttributes?: Record<string, unknown> }): void {
    this.attributes = response.sessionAttributes ?? {};
  }
}
