import { Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import { Knex } from 'knex';
import { KnexSessionStore } from '../http/session-store';
import { loginUrlFor } from './return-to';
import { User, UserRepository } from './user.repository';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      user?: User;
    }
  }
}

export const SESSION_COOKIE = 'lb.sid';

export function sessionMiddleware(opts: { knex: Knex; secret: string; secure: boolean; ttlSeconds: number }): RequestHandler {
  return session({
    name: SESSION_COOKIE,
    store: new KnexSessionStore(opts.knex, opts.ttlSeconds),
    secret: opts.secret,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: opts.secure, maxAge: opts.ttlSeconds * 1000, path: '/' },
  });
}

/**
 * Loads the signed-in user. A disabled or deleted user is signed out: the session row is deleted
 * and replaced by an unsaved empty session, rather than kept as an anonymous row (anonymous
 * visitors cost nothing durable, security.md).
 */
export function loadUser(users: Pick<UserRepository, 'findById'>): RequestHandler {
  return async (req, res, next) => {
    const id = req.session?.userId;
    if (id) {
      const user = await users.findById(id);
      if (user && !user.disabledAt) {
        req.user = user;
      } else {
        await new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
      }
    }
    res.locals.user = req.user;
    next();
  };
}

/** Browser pages that need a user send everyone else to the login page, and back afterwards. */
export const requireLogin: RequestHandler = (req, res, next) => {
  if (req.user) return next();
  res.redirect(303, loginUrlFor(req.originalUrl));
};

/** Rotates the session id (no fixation) and signs the user in. */
export async function signIn(req: Request, user: User): Promise<void> {
  await new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
  req.session.userId = user.id;
  await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

export async function signOut(req: Request, res: Response): Promise<void> {
  await new Promise<void>((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
  res.clearCookie(SESSION_COOKIE, { path: '/' });
}
