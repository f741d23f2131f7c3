import { chmodSync, closeSync, fchmodSync, lstatSync, mkdirSync, openSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Files only their owner can reach. Everything the server keeps in its data folder (the embedded
 * database, its socket, the lock, development secrets) may hold password hashes or secrets, and
 * other accounts on the machine are attackers too: folders 0700, files 0600.
 */

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
const GROUP_OTHER_BITS = 0o077;

export class DataDirOwnerError extends Error {
  constructor(
    readonly dir: string,
    readonly uid: number,
  ) {
    super(
      `The data folder ${dir} belongs to another user (uid ${uid}), who could read or change what Linkbridge keeps there. ` +
        'Use a folder of your own (DATA_DIR), or DATABASE_URL to use a PostgreSQL server.',
    );
    this.name = 'DataDirOwnerError';
  }
}

const ownUid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/**
 * Creates `dir` (and missing parents) as 0700, or tightens an existing one to 0700. Refuses a
 * folder owned by someone else: they could swap its files whatever its mode.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a folder`);
  const uid = ownUid();
  if (uid !== undefined && st.uid !== uid) throw new DataDirOwnerError(dir, st.uid);
  if ((st.mode & 0o777) !== PRIVATE_DIR_MODE) chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Writes a file as 0600, also when it already exists with a looser mode (an older version's). */
export function writePrivateFile(file: string, data: string, opts: { exclusive?: boolean } = {}): void {
  const fd = openSync(file, opts.exclusive ? 'wx' : 'w', PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes every group and other permission bit under `root` (root included): what an older
 * version, a copy or an extracted archive left readable. Symbolic links are neither followed nor
 * changed. Returns how many entries were changed.
 */
export function makeTreePrivate(root: string): number {
  let changed = 0;
  const visit = (p: string) => {
    let st;
    try {
      st = lstatSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed while we walk
      throw err;
    }
    if (st.isSymbolicLink()) return;
    if (st.mode & GROUP_OTHER_BITS) {
      chmodSync(p, st.isDirectory() ? (st.mode & 0o777 & ~GROUP_OTHER_BITS) | PRIVATE_DIR_MODE : st.mode & 0o777 & ~GROUP_OTHER_BITS);
      changed++;
    }
    if (st.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
  };
  visit(root);
  return changed;
}

/** Runs `fn` with umask 077, so whatever it creates is private from the first moment. */
export async function withPrivateUmask<T>(fn: () => Promise<T>): Promise<T> {
  let previous: number | undefined;
  try {
    previous = process.umask(GROUP_OTHER_BITS);
  } catch {
    // Worker threads cannot change the umask; the 0700 folder and makeTreePrivate still hold.
  }
  try {
    return await fn();
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
}
