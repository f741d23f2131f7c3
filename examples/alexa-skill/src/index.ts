import { Skill } from 'ask-sdk-core';
import { RequestEnvelope, ResponseEnvelope } from 'ask-sdk-model';
import { createSkill, SkillOptions } from './skill';

export { createSkill } from './skill';
export type { SkillOptions } from './skill';

/**
 * The skill's settings from the Lambda function's environment:
 * API_BASE_URL (required), API_TIMEOUT_MS, SKILL_ID, and for forwarding skill events
 * SKILL_EVENTS_URL with LINKBRIDGE_CLIENT_ID and LINKBRIDGE_CLIENT_SECRET.
 */
export function optionsFromEnv(env: Record<string, string | undefined>): SkillOptions {
  const apiBaseUrl = env.API_BASE_URL?.trim();
  if (!apiBaseUrl) throw new Error('Set API_BASE_URL to the Linkbridge server, such as https://auth.example.com');
  const timeoutMs = env.API_TIMEOUT_MS ? Number(env.API_TIMEOUT_MS) : undefined;
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= 7000)) {
    throw new Error('API_TIMEOUT_MS must be a whole number of milliseconds from 1 to 7000 (Alexa waits 8 seconds in all)');
  }
  const clientId = env.LINKBRIDGE_CLIENT_ID?.trim();
  const clientSecret = env.LINKBRIDGE_CLIENT_SECRET?.trim();
  const eventsUrl = env.SKILL_EVENTS_URL?.trim() || `${apiBaseUrl.replace(/\/+$/, '')}/alexa/skill-events`;
  return {
    apiBaseUrl,
    timeoutMs,
    skillId: env.SKILL_ID?.trim() || undefined,
    ...(clientId && clientSecret ? { eventsUrl, eventsAuth: { clientId, clientSecret } } : {}),
  };
}

let skill: Skill | undefined;

/** The Lambda handler (Node.js 20+ runtime, Alexa Skills Kit trigger). */
export async function handler(event: RequestEnvelope, context?: unknown): Promise<ResponseEnvelope> {
  skill ??= createSkill(optionsFromEnv(process.env));
  return skill.invoke(event, context);
}
