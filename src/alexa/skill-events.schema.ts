import { z } from 'zod';

/** The skill events this server acts on; every other `AlexaSkillEvent.*` (and anything else) is ignored. */
export const SKILL_ACCOUNT_LINKED = 'AlexaSkillEvent.SkillAccountLinked';
export const SKILL_DISABLED = 'AlexaSkillEvent.SkillDisabled';

/**
 * The Alexa user id (`amzn1.ask.account.…`, one per user and skill; a couple of hundred characters
 * today). Bounded so a caller cannot store arbitrary text, printable ASCII so it is safe in logs.
 */
const alexaUserId = z
  .string('The Alexa userId is missing.')
  .min(1, 'The Alexa userId is empty.')
  .max(512, 'The Alexa userId is too long.')
  .regex(/^[\x21-\x7e]+$/, 'The Alexa userId must be printable ASCII without spaces.');

/**
 * The request envelope Alexa sends a skill (version, context.System, request), as the skill
 * received it. Only what we read is checked; other fields Alexa adds are let through untouched.
 */
const envelopeShape = {
  version: z.string().max(16).optional(),
  context: z.object(
    {
      System: z.object(
        {
          user: z.object({ userId: alexaUserId }, 'context.System.user is missing.'),
          application: z.object({ applicationId: z.string().max(256) }).optional(),
        },
        'context.System is missing.',
      ),
    },
    'The event has no context.',
  ),
  request: z.object(
    {
      type: z.string('request.type is missing.').min(1).max(100, 'request.type is too long.'),
      requestId: z.string().max(256).optional(),
      timestamp: z.string().max(64).optional(),
    },
    'The event has no request.',
  ),
};

export const skillEventEnvelopeSchema = z.object(envelopeShape, 'The body must be an Alexa event envelope: a JSON object with context and request.');

export type SkillEventEnvelope = z.infer<typeof skillEventEnvelopeSchema>;

const requestSchema = envelopeShape.request;

/** SkillAccountLinked carries our access token in request.body (alexa.md, "After linking"); for a bridged link it is the upstream's, which may be a long JWT. */
export const accountLinkedEventSchema = skillEventEnvelopeSchema.extend({
  request: requestSchema.extend({
    body: z.object(
      { accessToken: z.string('request.body.accessToken is missing.').min(1).max(8192, 'request.body.accessToken is too long.') },
      'request.body is missing.',
    ),
  }),
});

/** SkillDisabled names only the user; PERSISTED means Alexa keeps the same userId if the skill is enabled again. */
export const skillDisabledEventSchema = skillEventEnvelopeSchema.extend({
  request: requestSchema.extend({
    body: z.object({ userInformationPersistenceStatus: z.string().max(32).optional() }).optional(),
  }),
});
