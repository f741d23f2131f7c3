import { sameDigest, sha256, TokenGenerator } from '../../src/lib/crypto';

describe('TokenGenerator', () => {
  it('when many tokens are drawn, then each is prefixed, 32 random bytes of base64url, and never repeated', () => {
    const gen = new TokenGenerator();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = gen.token('lb_at_');
      expect(t).toMatch(/^lb_at_[A-Za-z0-9_-]{43}$/);
      seen.add(t);
    }
    expect(seen.size).toBe(1000);
  });
});

describe('sameDigest', () => {
  it('when two digests are equal, then true; when they differ or are not 32-byte digests, then false', () => {
    expect(sameDigest(sha256('a'), sha256('a'))).toBe(true);
    expect(sameDigest(sha256('a'), sha256('b'))).toBe(false);
    expect(sameDigest('abcd', 'abcd')).toBe(false);
    expect(sameDigest(sha256('a'), 'not hex')).toBe(false);
  });
});
