import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataDirOwnerError, ensurePrivateDir, makeTreePrivate, writePrivateFile } from '../../src/lib/private-fs';

const mode = (p: string) => lstatSync(p).mode & 0o777;

describe('private files', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-privfs-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('when a folder is created or already exists open to others, then it ends up 0700', () => {
    const fresh = path.join(root, 'a', 'b');
    ensurePrivateDir(fresh);
    expect(mode(fresh)).toBe(0o700);
    const old = path.join(root, 'old');
    mkdirSync(old, { mode: 0o777 });
    chmodSync(old, 0o777);
    ensurePrivateDir(old);
    expect(mode(old)).toBe(0o700);
  });

  it('when a file is written over an older, world-readable one, then it is 0600', () => {
    const file = path.join(root, 'secret.json');
    writeFileSync(file, 'old');
    chmodSync(file, 0o644);
    writePrivateFile(file, 'new');
    expect(mode(file)).toBe(0o600);
    expect(() => writePrivateFile(file, 'again', { exclusive: true })).toThrow(/EEXIST/);
  });

  it('when a tree is made private, then group and other bits go, owner bits stay, and symbolic links are not followed', () => {
    const tree = path.join(root, 'tree');
    mkdirSync(path.join(tree, 'sub'), { recursive: true });
    writeFileSync(path.join(tree, 'sub', 'f'), '');
    chmodSync(path.join(tree, 'sub', 'f'), 0o766);
    chmodSync(path.join(tree, 'sub'), 0o755);
    const outside = path.join(root, 'outside');
    writeFileSync(outside, '');
    chmodSync(outside, 0o644);
    symlinkSync(outside, path.join(tree, 'link'));
    expect(makeTreePrivate(tree)).toBeGreaterThanOrEqual(2);
    expect(mode(path.join(tree, 'sub'))).toBe(0o700);
    expect(mode(path.join(tree, 'sub', 'f'))).toBe(0o700);
    expect(mode(outside)).toBe(0o644);
    expect(makeTreePrivate(tree)).toBe(0);
  });

  (process.getuid?.() === 0 ? it : it.skip)('when the folder belongs to another user, then it is refused with a message naming it', () => {
    const theirs = path.join(root, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    expect(() => ensurePrivateDir(theirs)).toThrow(DataDirOwnerError);
    expect(() => ensurePrivateDir(theirs)).toThrow(/belongs to another user/);
  });
});
