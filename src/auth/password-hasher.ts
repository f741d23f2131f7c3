import * as argon2 from '@node-rs/argon2';
import bcrypt from 'bcrypt';
import { randomBytes } from 'node:crypto';
import { LaneSemaphore } from '../lib/semaphore';

export interface PasswordParams {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  /** Hashes in flight at once, all lanes together (LOGIN_CONCURRENCY). */
  concurrency: number;
  /** Log-ins waiting for a slot (LOGIN_QUEUE). */
  queue: number;
  /** The share of `concurrency` sign-ups may take (SIGNUP_CONCURRENCY, below `concurrency`). */
  signupConcurrency: number;
  /** Sign-ups waiting for a slot (SIGNUP_QUEUE). */
  signupQueue: number;
}

/**
 * Who is waiting for the hash: a log-in (Alexa linking waits on it) goes first and may use every
 * slot; a sign-up gets a smaller share and its own queue, so a sign-up flood cannot make log-ins
 * "busy".
 */
export type HashLane = 'login' | 'signup';

const ARGON2ID = 2; // Algorithm.Argon2id (a const enum, which isolated-module builds cannot inline)
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
export const BCRYPT_MIN_COST = 10;
/** bcrypt reads only the first 72 bytes of a password. */
const BCRYPT_MAX_BYTES = 72;

export function isBcryptHash(hash: string, minCost = BCRYPT_MIN_COST): boolean {
  const m = BCRYPT.exec(hash);
  return m !== null && Number(m[1]) >= minCost;
}

export interface VerifyResult {
  ok: boolean;
  /** The hash is bcrypt or older argon2 parameters: store a fresh argon2id hash. */
  needsRehash: boolean;
}

/**
 * argon2id (OWASP: m=19 MiB, t=2, p=1) for every new hash; bcrypt only to verify imported hashes.
 * Every hash and verify runs through a small semaphore: they run on libuv's pool, off the event
 * loop, and a login storm queues (bounded) instead of starving the rest of the server. Log-ins
 * and sign-ups are separate lanes of it (HashLane).
 */
export class PasswordHasher {
  private readonly gate: LaneSemaphore<HashLane>;
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly params: PasswordParams) {
    this.gate = new LaneSemaphore<HashLane>(params.concurrency, [
      ['login', { concurrency: params.concurrency, queue: params.queue }],
      ['signup', { concurrency: params.signupConcurrency, queue: params.signupQueue }],
    ]);
  }

  /** The hashing queue by lane, for the metrics. */
  stats() {
    return this.gate.stats();
  }

  private options(): argon2.Options {
    return {
      algorithm: ARGON2ID,
      memoryCost: this.params.memoryCost,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
    };
  }

  hash(password: string, lane: HashLane = 'login'): Promise<string> {
    return this.gate.run(lane, () => argon2.hash(password, this.options()));
  }

  async verify(hash: string, password: string): Promise<VerifyResult> {
    if (hash.startsWith('$argon2')) {
      const ok = await this.gate.run('login', () => argon2.verify(hash, password));
      return { ok, needsRehash: ok && this.isOutdated(hash) };
    }
    if (isBcryptHash(hash, 4)) {
      // A longer password would be checked on its first 72 bytes only: refuse it rather than
      // accept a password that merely starts like the right one (security.md).
      if (Buffer.byteLength(password, 'utf8') > BCRYPT_MAX_BYTES) {
        await this.verifyDummy(password);
        return { ok: false, needsRehash: false };
      }
      const ok = await this.gate.run('login', () => bcrypt.compare(password, hash));
      return { ok, needsRehash: ok };
    }
    await this.verifyDummy(password);
    return { ok: false, needsRehash: false };
  }

  /** Spends the time of a real verify, so an unknown email answers like a wrong password. */
  async verifyDummy(password: string): Promise<void> {
    this.dummyHash ??= argon2.hash(randomBytes(16).toString('hex'), this.options());
    const dummy = await this.dummyHash;
    await this.gate.run('login', () => argon2.verify(dummy, password));
  }

  private isOutdated(hash: string): boolean {
    try {
      const p = argon2.parseOptions(hash) as { memoryCost?: number; timeCost?: number; parallelism?: number; algorithm?: number };
      return p.memoryCost !== this.params.memoryCost || p.timeCost !== this.params.timeCost || p.parallelism !== this.params.parallelism || (p.algorithm !== undefined && p.algorithm !== ARGON2ID);
    } catch {
      return true;
    }
  }
}
