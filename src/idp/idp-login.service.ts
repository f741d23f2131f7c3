import { randomBytes } from 'node:crypto';
import { AuthService } from '../auth/auth.service';
import { isUniqueViolation, User, UserRepository } from '../auth/user.repository';
import { sha256, safeEqual } from '../lib/crypto';
import { AppError } from '../lib/errors';
import { SecretBox } from '../lib/secret-box';
import { IdentityProvider, IdpRepository } from './idp.repository';
import { ProviderService } from './providers.service';
import { RoundTrip, UpstreamClients, UpstreamError, UpstreamProfile } from './upstream';

/**
 * The password column of an account that has none (created through a provider): not a hash, so
 * the password check always fails (after a dummy verify), and a real hash (set by a password
 * reset) always starts with `$`.
 */
export const NO_PASSWORD = '!no-password';
export const hasPassword = (u: Pick<User, 'passwordHash'>) => u.passwordHash.startsWith('$');

/** Round trips and pending links live in the browser, sealed, for this long (no rows for anonymous visitors). */
export const ROUND_TRIP_TTL_SECONDS = 600;
const MAX_COOKIE_CHARS = 3800;

interface TripCookie extends RoundTrip {
  /** The provider's name. */
  p: string;
  /** Where to go afterwards (already a safe relative path). */
  r: string;
  /** 'link': a signed-in user adding this sign-in to their account (its id). */
  l?: number;
  exp: number;
}

interface PendingLink {
  providerId: number;
  subject: string;
  email: string | null;
  userId: number;
  returnTo: string;
  exp: number;
}

/** A failed sign-in through a provider: a page with what happened and what to do. */
export class IdpLoginError extends AppError {
  constructor(
    status: number,
    code: string,
    message: string,
    /** Context for the page: which provider, and where the user was going. */
    readonly context: { provider?: IdentityProvider; returnTo?: string } = {},
  ) {
    super(status, code, message);
  }
}

export type CallbackOutcome =
  | { kind: 'signed-in'; user: User; returnTo: string }
  | { kind: 'linked'; user: User; returnTo: string }
  | { kind: 'prove-password'; pending: string; email: string; provider: IdentityProvider; returnTo: string };

export class IdpLoginService {
  constructor(
    private readonly repo: IdpRepository,
    private readonly users: UserRepository,
    private readonly providers: ProviderService,
    private readonly upstream: UpstreamClients,
    private readonly auth: AuthService,
    private readonly secrets: SecretBox | undefined,
  ) {}

  /** The enabled provider for a login, or a 404 page (unknown and disabled look the same). */
  async provider(name: unknown): Promise<IdentityProvider> {
    let p: IdentityProvider | undefined;
    try {
      p = await this.providers.get(name);
    } catch {
      p = undefined;
    }
    if (!p || !p.enabled) throw new IdpLoginError(404, 'unknown_provider', 'There is no such way to sign in here.');
    return p;
  }

  /** Step 1: the upstream's authorization URL, and the sealed cookie that binds the round trip to this browser. */
  async start(p: IdentityProvider, opts: { returnTo: string; linkUserId?: number }): Promise<{ location: string; cookie: string }> {
    const trip: TripCookie = {
      p: p.name,
      r: opts.returnTo,
      state: randomBytes(32).toString('base64url'),
      codeVerifier: randomBytes(48).toString('base64url'),
      ...(p.type === 'oidc' ? { nonce: randomBytes(32).toString('base64url') } : {}),
      ...(opts.linkUserId ? { l: opts.linkUserId } : {}),
      exp: Date.now() + ROUND_TRIP_TTL_SECONDS * 1000,
    };
    const cookie = this.box().seal(JSON.stringify(trip), 'idp:round-trip');
    if (cookie.length > MAX_COOKIE_CHARS) throw new IdpLoginError(400, 'request_too_long', 'The page you came from sent a request too long to carry through the sign-in.');
    let location: URL;
    try {
      location = await this.upstream.authorizationUrl(p, this.providers.secretOf(p), trip);
    } catch (err) {
      throw this.upstreamFailure(err, p, opts.returnTo);
    }
    return { location: location.href, cookie };
  }

  /**
   * Step 2: the upstream sent the browser back. The round trip must be this browser's, for this
   * provider, unexpired, with the same `state`; the cookie is cleared by the caller whatever
   * happens (single use). Nothing is written unless the whole sign-in succeeded.
   */
  async callback(p: IdentityProvider, sealedTrip: string | undefined, callback: URL, signedInUserId: number | undefined): Promise<CallbackOutcome> {
    const trip = this.openTrip(sealedTrip);
    const returnedState = callback.searchParams.get('state');
    if (!trip || trip.p !== p.name || typeof returnedState !== 'string' || !safeEqual(returnedState, trip.state)) {
      throw new IdpLoginError(400, 'invalid_state', 'This sign-in was started in another browser or tab, has expired, or was already used. Please start again.', { provider: p, returnTo: trip?.p === p.name ? trip.r : undefined });
    }
    const context = { provider: p, returnTo: trip.r };
    let profile: UpstreamProfile;
    try {
      profile = await this.upstream.complete(p, this.providers.secretOf(p), callback, trip);
    } catch (err) {
      throw this.upstreamFailure(err, p, trip.r);
    }

    if (trip.l !== undefined) {
      if (trip.l !== signedInUserId) throw new IdpLoginError(400, 'invalid_state', 'You were signed out while linking. Please sign in and try again.', context);
      const user = await this.users.findById(trip.l);
      if (!user || user.disabledAt) throw new IdpLoginError(403, 'account_disabled', 'This account cannot sign in.', context);
      await this.link(user, p, profile, context);
      return { kind: 'linked', user, returnTo: trip.r };
    }

    const known = await this.repo.findIdentity(p.id, profile.subject);
    if (known) {
      const user = await this.users.findById(known.userId);
      if (!user || user.disabledAt) throw new IdpLoginError(403, 'account_disabled', 'This account cannot sign in.', context);
      await this.repo.touchIdentity(known.id, profile.email);
      return { kind: 'signed-in', user, returnTo: trip.r };
    }

    const local = profile.email ? await this.users.findByEmail(profile.email) : undefined;
    if (local) {
      if (local.disabledAt) throw new IdpLoginError(403, 'account_disabled', 'This account cannot sign in.', context);
      // Only a provider trusted for email, saying this email is verified, links by email alone.
      if (p.trustEmail && profile.emailVerified) {
        await this.link(local, p, profile, context);
        return { kind: 'signed-in', user: local, returnTo: trip.r };
      }
      if (!hasPassword(local)) {
        throw new IdpLoginError(409, 'account_exists', `An account with the email ${local.email} already exists. Sign in the way you usually do, then add ${p.displayName} on your account's "Linked sign-ins" page.`, context);
      }
      const pending: PendingLink = { providerId: p.id, subject: profile.subject, email: profile.email, userId: local.id, returnTo: trip.r, exp: Date.now() + ROUND_TRIP_TTL_SECONDS * 1000 };
      return { kind: 'prove-password', pending: this.box().seal(JSON.stringify(pending), 'idp:pending-link'), email: local.email, provider: p, returnTo: trip.r };
    }

    if (!p.allowSignup) throw new IdpLoginError(403, 'no_account', `There is no account here for this ${p.displayName} sign-in, and new accounts cannot be created with it.`, context);
    const user = await this.createAccount(p, profile, context);
    return { kind: 'signed-in', user, returnTo: trip.r };
  }

  /** The pending link a password-proof page is about, or undefined when it expired or was tampered with. */
  openPending(sealed: string | undefined): (PendingLink & { provider?: IdentityProvider }) | undefined {
    if (!sealed || sealed.length > MAX_COOKIE_CHARS || !this.secrets) return undefined;
    try {
      const v = JSON.parse(this.secrets.open(sealed, 'idp:pending-link')) as PendingLink;
      return typeof v.exp === 'number' && v.exp > Date.now() ? v : undefined;
    } catch {
      return undefined;
    }
  }

  /** What the password-proof page shows again after a wrong password. */
  async pendingView(sealed: string | undefined): Promise<{ provider: IdentityProvider; email: string; returnTo: string } | undefined> {
    const pending = this.openPending(sealed);
    if (!pending) return undefined;
    const [provider, user] = await Promise.all([this.repo.findById(pending.providerId), this.users.findById(pending.userId)]);
    return provider && user ? { provider, email: user.email, returnTo: pending.returnTo } : undefined;
  }

  /**
   * Step 3 (only for an email that matched a local account without trust): the user proves the
   * local account with its password (the log-in's throttles apply), then the identity is linked.
   */
  async proveAndLink(sealed: string | undefined, input: { password: unknown; address: string; deviceCookie?: unknown }): Promise<{ user: User; returnTo: string; deviceCookie: string }> {
    const pending = this.openPending(sealed);
    if (!pending) throw new IdpLoginError(400, 'invalid_state', 'This sign-in has expired. Please start again.');
    const p = await this.repo.findById(pending.providerId);
    if (!p || !p.enabled) throw new IdpLoginError(404, 'unknown_provider', 'There is no such way to sign in here.');
    const local = await this.users.findById(pending.userId);
    if (!local) throw new IdpLoginError(400, 'invalid_state', 'This sign-in has expired. Please start again.');
    // auth.login throws LoginFailedError (400) or 429: the caller re-renders the form with it.
    const { user, deviceCookie } = await this.auth.login({ email: local.email, password: input.password, address: input.address, deviceCookie: input.deviceCookie });
    if (user.id !== local.id) throw new IdpLoginError(400, 'invalid_state', 'This sign-in has expired. Please start again.');
    await this.link(user, p, { subject: pending.subject, email: pending.email, emailVerified: false, name: null }, { provider: p, returnTo: pending.returnTo });
    return { user, returnTo: pending.returnTo, deviceCookie };
  }

  /** The user's linked sign-ins, and whether each may be removed (never the last way in). */
  async identities(user: User) {
    const list = await this.repo.identitiesOf(user.id);
    const usable = list.filter((i) => i.providerEnabled).length + (hasPassword(user) ? 1 : 0);
    return {
      hasPassword: hasPassword(user),
      identities: list.map((i) => ({ ...i, removable: !i.providerEnabled || usable > 1 })),
    };
  }

  /** Removes one of the user's identities, unless it is their last way to sign in (checked under a lock on the user). */
  async removeIdentity(userId: number, identityId: number): Promise<void> {
    await this.repo.transaction(async (trx) => {
      const locked = await this.repo.lockUser(trx, userId);
      if (!locked) throw new AppError(404, 'not_found', 'Not found.');
      const list = await this.repo.identitiesOf(userId, trx);
      const target = list.find((i) => i.id === identityId);
      if (!target) throw new AppError(404, 'not_found', 'That sign-in is not linked to your account.');
      const remaining = list.filter((i) => i.id !== identityId && i.providerEnabled).length + (hasPassword(locked) ? 1 : 0);
      if (target.providerEnabled && remaining === 0) {
        throw new AppError(409, 'last_sign_in', `${target.providerDisplayName} is the only way you can sign in: it cannot be removed.`);
      }
      await this.repo.deleteIdentity(trx, userId, identityId);
    });
  }

  private async link(user: User, p: IdentityProvider, profile: UpstreamProfile, context: IdpLoginError['context']): Promise<void> {
    try {
      await this.repo.insertIdentity({ userId: user.id, providerId: p.id, subject: profile.subject, email: profile.email });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const existing = await this.repo.findIdentity(p.id, profile.subject);
      if (existing?.userId === user.id) return; // linked meanwhile (a double submit): the same result
      throw new IdpLoginError(409, 'identity_taken', `This ${p.displayName} sign-in is already linked to another account.`, context);
    }
  }

  /** A new account and its identity, in one transaction: nothing is written unless both are. */
  private async createAccount(p: IdentityProvider, profile: UpstreamProfile, context: IdpLoginError['context']): Promise<User> {
    // An email the upstream did not verify is not made the account's address (it could be
    // someone else's: they could later "recover" this account by it): a placeholder instead.
    const email = profile.email && profile.emailVerified ? profile.email : `${p.name}-${sha256(profile.subject).slice(0, 24)}@users.invalid`;
    try {
      return await this.repo.transaction(async (trx) => {
        const user = await this.users.create({ email, name: profile.name ?? '', passwordHash: NO_PASSWORD }, trx);
        await this.repo.insertIdentity({ userId: user.id, providerId: p.id, subject: profile.subject, email: profile.email }, trx);
        return user;
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // Another request linked this subject or took this email between our look-up and insert.
      throw new IdpLoginError(409, 'try_again', 'Someone else signed in with this account at the same moment. Please try again.', context);
    }
  }

  private openTrip(sealed: string | undefined): TripCookie | undefined {
    if (!sealed || sealed.length > MAX_COOKIE_CHARS || !this.secrets) return undefined;
    try {
      const v = JSON.parse(this.secrets.open(sealed, 'idp:round-trip')) as TripCookie;
      return typeof v.exp === 'number' && v.exp > Date.now() && typeof v.state === 'string' ? v : undefined;
    } catch {
      return undefined;
    }
  }

  private upstreamFailure(err: unknown, p: IdentityProvider, returnTo: string): Error {
    if (!(err instanceof UpstreamError)) return err as Error;
    const context = { provider: p, returnTo };
    if (err.failure === 'denied') return new IdpLoginError(400, 'access_denied', `You did not finish signing in with ${p.displayName}.`, context);
    if (err.failure === 'unavailable') return new IdpLoginError(502, 'upstream_unavailable', `${p.displayName} is not answering right now. Try again in a moment.`, context);
    return new IdpLoginError(502, 'upstream_invalid', `${p.displayName} sent an answer we cannot accept, so you were not signed in.`, context);
  }

  private box(): SecretBox {
    if (!this.secrets) throw new IdpLoginError(503, 'not_configured', 'Signing in with another provider is not configured on this server (ENCRYPTION_KEYS).');
    return this.secrets;
  }
}
