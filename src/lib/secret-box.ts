import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Secrets we must use in clear later (an upstream provider's client secret, tokens a bridge holds
 * for a user), encrypted at rest with AES-256-GCM: a fresh 96-bit IV per value, the 128-bit tag,
 * and the key's id stored beside the value so keys can rotate (design.md). The stored form is
 * `v1.<key id>.<iv>.<tag>.<ciphertext>`, base64url parts. `aad` binds a value to where it belongs
 * (e.g. "idp:12:client_secret"), so a ciphertext copied into another row does not decrypt.
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly current: string;

  /** `keys`: 32-byte keys, the first one encrypts; every one decrypts (old ones for rotation). */
  constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new Error('SecretBox needs at least one key');
    for (const k of keys) if (k.length !== 32) throw new Error('Encryption keys are 32 bytes');
    this.keys = new Map(keys.map((k) => [keyId(k), k]));
    this.current = keyId(keys[0]);
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.current)!, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', this.current, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  /** The plaintext, or an error when the value was altered, moved, or sealed with a key we no longer have. */
  open(sealed: string, aad: string): string {
    const [version, id, iv, tag, ciphertext, ...rest] = sealed.split('.');
    if (version !== 'v1' || rest.length || !id || !iv || !tag || ciphertext === undefined) throw new Error('Not a sealed value');
    const key = this.keys.get(id);
    if (!key) throw new Error(`Sealed with an unknown key (id ${id}): add the old key to the configuration`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** True when the value was sealed with an older key (re-seal it with the current one). */
  isStale(sealed: string): boolean {
    return sealed.split('.')[1] !== this.current;
  }
}

/** A short public id of a key (not the key): the first 8 bytes of its SHA-256. */
function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest().subarray(0, 8).toString('base64url');
}
