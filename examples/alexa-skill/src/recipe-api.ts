import { DEFAULT_TIMEOUT_MS, defaultFetch, FetchLike, withDeadline } from './http';

/*
 * The few calls the skill makes to the Linkbridge recipes API, with the linked access token as a
 * bearer token. Every call has a deadline well inside Alexa's 8 seconds for a response, and every
 * failure becomes an ApiProblem the skill knows how to say.
 */

export interface Bookmark {
  recipe_id: number;
  title: string;
  summary?: string | null;
  minutes?: number | null;
}

export interface Recipe {
  id: number;
  title: string;
  summary?: string | null;
  ingredients: string[];
  steps: string[];
  minutes?: number | null;
  servings?: number | null;
}

export interface Me {
  id: number;
  name: string;
}

/**
 * What went wrong, in the terms the skill speaks: no usable link (401, or no token at all), a
 * missing permission (403 insufficient_scope, with the scope from WWW-Authenticate), a recipe that
 * is gone (404), or the API out of reach (network error, timeout, 5xx, or an answer we cannot read).
 */
export class ApiProblem extends Error {
  constructor(
    readonly kind: 'unauthorized' | 'forbidden' | 'not_found' | 'unavailable',
    message: string,
    readonly scope?: string,
  ) {
    super(message);
    this.name = 'ApiProblem';
  }
}

export interface RecipeApiOptions {
  /** The server's public base URL, such as https://auth.example.com (no trailing path). */
  baseUrl: string;
  /** Per call (DEFAULT_TIMEOUT_MS when unset). */
  timeoutMs?: number;
  fetch?: FetchLike;
}

/** RFC 6750 §3: `Bearer realm="...", error="insufficient_scope", scope="read"`. */
export function scopeFromChallenge(header: string | null): string | undefined {
  const m = header ? /\bscope="([^"]*)"/i.exec(header) : null;
  return m ? m[1] : undefined;
}

export function createRecipeApi(options: RecipeApiOptions) {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const doFetch = options.fetch ?? defaultFetch;

  async function get<T>(path: string, accessToken: string): Promise<T> {
    try {
      return await withDeadline(timeoutMs, async (signal) => {
        const res = await doFetch(`${baseUrl}${path}`, { method: 'GET', headers: { Authorization: `Bearer ${accessToken}`, Accept: 'application/json' }, signal });
        if (res.status === 401) throw new ApiProblem('unauthorized', 'The access token was refused.');
        if (res.status === 403) throw new ApiProblem('forbidden', 'A permission is missing.', scopeFromChallenge(res.headers.get('www-authenticate')));
        if (res.status === 404) throw new ApiProblem('not_found', `${path} was not found.`);
        if (!res.ok) throw new ApiProblem('unavailable', `The API answered ${res.status}.`);
        return (await res.json()) as T;
      });
    } catch (err) {
      if (err instanceof ApiProblem) throw err;
      // Network error, DNS failure, the deadline (AbortError) or a body that is not JSON.
      throw new ApiProblem('unavailable', `The API could not be reached: ${(err as Error)?.name ?? 'error'}.`);
    }
  }

  return {
    me: (token: string) => get<Me>('/api/me', token),
    /** The first 100 bookmarks, newest first: plenty to pick a recipe by voice. */
    bookmarks: async (token: string) => (await get<{ items: Bookmark[] }>('/api/bookmarks?limit=100', token)).items,
    recipe: (token: string, id: number) => get<Recipe>(`/api/recipes/${encodeURIComponent(String(id))}`, token),
  };
}

export type RecipeApi = ReturnType<typeof createRecipeApi>;
