import { Request, RequestHandler } from 'express';
import { AppError } from '../lib/errors';

/** The middleware in front of every API handler: bearer token and scope (and for writes, the body). */
export interface ApiGuards {
  read: RequestHandler[];
  write: RequestHandler[];
}

/** The user the access token was issued for (set by the bearer middleware of the guards). */
export const tokenUserId = (req: Request): number => req.auth!.userId;

/** The last handler of an API route: a method it does not serve is 405 with `Allow` (RFC 9110 §15.5.6). */
export const methodNotAllowed: RequestHandler = (req) => {
  const methods = Object.keys((req.route as { methods: Record<string, boolean> }).methods)
    .filter((m) => m !== '_all')
    .map((m) => m.toUpperCase());
  if (methods.includes('GET')) methods.push('HEAD');
  throw new AppError(405, 'method_not_allowed', `This resource does not support ${req.method}.`, { headers: { Allow: methods.join(', ') } });
};
