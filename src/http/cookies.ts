import { Request } from 'express';

/**
 * The first value of the named cookie in a Cookie header, when it matches `valid` (the shape its
 * writer gives it); anything else counts as no cookie. Hostile headers cost one linear scan.
 */
export function cookieValue(header: unknown, name: string, valid?: RegExp): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return !valid || valid.test(value) ? value : undefined;
  }
  return undefined;
}

export const requestCookie = (req: Request, name: string, valid?: RegExp): string | undefined => cookieValue(req.headers.cookie, name, valid);
