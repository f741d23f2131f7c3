/** The small HTTP helpers the skill's calls share: an injectable fetch and a deadline. */

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Per call: the default 2500 ms leaves room for two calls and the answer within Alexa's 8 s. */
export const DEFAULT_TIMEOUT_MS = 2500;

export const defaultFetch: FetchLike = (input, init) => fetch(input, init);

/**
 * Runs `work` with a signal that aborts after `timeoutMs`. Pass the signal to fetch and read the
 * body inside `work`: a server that stalls mid-answer is cut off by the same deadline.
 */
export async function withDeadline<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await work(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}
