import { DEFAULT_TIMEOUT_MS, defaultFetch, FetchLike, withDeadline } from './http';

export interface EventsAuth {
  clientId: string;
  clientSecret: string;
}

export interface SkillEventForwarderOptions {
  /** https://HOST/alexa/skill-events on the Linkbridge server. */
  eventsUrl: string;
  /** The Alexa client's credentials from `alexa:setup` (the same ones the console has). */
  auth: EventsAuth;
  timeoutMs?: number;
  fetch?: FetchLike;
}

export type ForwardResult = { ok: true; status: number; body: unknown } | { ok: false; status?: number; error: string };

/** RFC 6749 §2.3.1: each part form-encoded, then base64 (a no-op for Linkbridge's unreserved IDs). */
export function basicAuth({ clientId, clientSecret }: EventsAuth): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
}

/**
 * Sends a skill event (SkillAccountLinked, SkillDisabled, ...) to the server as the skill received
 * it. Never throws: the outcome is returned for the log, since the server treats every event as
 * idempotent and a failed one can simply be sent again.
 */
export function createSkillEventForwarder(options: SkillEventForwarderOptions) {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const doFetch = options.fetch ?? defaultFetch;
  return async function forward(envelope: unknown): Promise<ForwardResult> {
    try {
      return await withDeadline(timeoutMs, async (signal) => {
        const res = await doFetch(options.eventsUrl, {
          method: 'POST',
          headers: { Authorization: basicAuth(options.auth), 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify(envelope),
          signal,
        });
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        if (res.ok) return { ok: true as const, status: res.status, body };
        const e = body as { error?: unknown; error_description?: unknown };
        return { ok: false as const, status: res.status, error: `${String(e?.error ?? res.status)}: ${String(e?.error_description ?? '')}`.slice(0, 300) };
      });
    } catch (err) {
      return { ok: false, error: `the server could not be reached (${(err as Error)?.name ?? 'error'})` };
    }
  };
}

export type SkillEventForwarder = ReturnType<typeof createSkillEventForwarder>;
