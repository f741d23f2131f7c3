/**
 * Where to send the user after login: only a same-origin relative path. Anything else (absolute
 * URLs, protocol-relative `//host`, backslash tricks, control characters) falls back to `/`, so
 * the login form can never be turned into an open redirect.
 */
const MAX_RETURN_TO = 4096;

export function safeReturnTo(value: unknown, fallback = '/'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_TO) return fallback;
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return fallback;
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return fallback;
  try {
    const base = 'http://return-to.invalid';
    const url = new URL(value, base);
    if (url.origin !== base) return fallback;
    const path = url.pathname + url.search;
    // Check the normalised result too: dot-segments can turn `/.//evil.example` into `//evil.example`.
    if (!path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return fallback;
    return path;
  } catch {
    return fallback;
  }
}

/**
 * The login page, remembering where to come back to. A path too long to come back to is
 * dropped rather than echoed into a huge Location header.
 */
export function loginUrlFor(originalUrl: string): string {
  return originalUrl.length > MAX_RETURN_TO ? '/login' : `/login?return_to=${encodeURIComponent(originalUrl)}`;
}
