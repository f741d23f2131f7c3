/** Out-of-band: the code is shown on a page, for trying the flow by hand. */
export const OOB_REDIRECT_URI = 'urn:ietf:wg:oauth:2.0:oob';

/** The three regional redirect URLs Alexa uses for a vendor (alexa.md): registered and compared exactly. */
export function alexaRedirectUris(vendorId: string): string[] {
  return [
    `https://pitangui.amazon.com/api/skill/link/${vendorId}`,
    `https://layla.amazon.com/api/skill/link/${vendorId}`,
    `https://alexa.amazon.co.jp/api/skill/link/${vendorId}`,
  ];
}

/**
 * A redirect URI we accept at registration: https, http only on a loopback host (development),
 * or the out-of-band URN for trying the flow by hand. No fragment (RFC 6749 §3.1.2).
 */
export function redirectUriProblem(uri: string): string | undefined {
  if (uri === OOB_REDIRECT_URI) return undefined;
  if (uri.length > 2000) return 'is too long';
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'is not an absolute URL';
  }
  if (u.hash || uri.includes('#')) return 'must not contain a fragment';
  if (u.username || u.password) return 'must not contain credentials';
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)) return undefined;
  return 'must use https (http is allowed only for localhost)';
}
