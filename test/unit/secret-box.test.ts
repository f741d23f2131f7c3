import { randomBytes } from 'node:crypto';
import { SecretBox } from '../../src/lib/secret-box';

describe('SecretBox (AES-256-GCM at rest)', () => {
  const key = randomBytes(32);

  it('when a value is sealed and opened with the same place, then it comes back, and the stored form never contains it', () => {
    const box = new SecretBox([key]);
    const sealed = box.seal('upstream-secret', 'idp:1:client_secret');
    expect(sealed).not.toContain('upstream-secret');
    expect(box.open(sealed, 'idp:1:client_secret')).toBe('upstream-secret');
  });

  it('when the same value is sealed twice, then the two stored forms differ (a fresh IV each time)', () => {
    const box = new SecretBox([key]);
    expect(box.seal('x', 'a')).not.toBe(box.seal('x', 'a'));
  });

  it('when a sealed value is altered or moved to another place, then opening it fails', () => {
    const box = new SecretBox([key]);
    const sealed = box.seal('secret', 'idp:1:client_secret');
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[4], 'base64url');
    flipped[0] ^= 1;
    expect(() => box.open([...parts.slice(0, 4), flipped.toString('base64url')].join('.'), 'idp:1:client_secret')).toThrow();
    expect(() => box.open(sealed, 'idp:2:client_secret')).toThrow();
    expect(() => box.open('garbage', 'idp:1:client_secret')).toThrow('Not a sealed value');
  });

  it('when the key rotates, then old values still open with the old key listed second, and are reported stale', () => {
    const old = new SecretBox([key]);
    const sealed = old.seal('secret', 'p');
    const rotated = new SecretBox([randomBytes(32), key]);
    expect(rotated.open(sealed, 'p')).toBe('secret');
    expect(rotated.isStale(sealed)).toBe(true);
    expect(rotated.isStale(rotated.seal('secret', 'p'))).toBe(false);
    expect(() => new SecretBox([randomBytes(32)]).open(sealed, 'p')).toThrow(/unknown key/);
  });
});
