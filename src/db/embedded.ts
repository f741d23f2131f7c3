import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logger } from '../lib/logger';
import { ensurePrivateDir, makeTreePrivate, PRIVATE_FILE_MODE, withPrivateUmask, writePrivateFile } from '../lib/private-fs';
import { PgliteSessionQueue } from './pglite-session-queue';

/**
 * The embedded PostgreSQL: PGlite in this process, served over a Unix domain socket so that knex
 * and pg talk to it exactly as to a real server. The socket server does no authentication (any
 * user name is a superuser), so the only gate is the file system: the socket lives in
 * DATA_DIR/run inside the 0700 data folder, and nothing is ever served on TCP, where every local
 * account could connect. One process owns a data folder (lock file); the CLI reaches a running
 * server's database through the socket folder it publishes in `embedded.json`.
 */

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `The data folder ${dataDir} is in use by another Linkbridge process (pid ${pid}). ` +
        'Stop it first, or set DATA_DIR to another folder, or DATABASE_URL to use a PostgreSQL server.',
    );
    this.name = 'DataDirLockedError';
  }
}

export interface EmbeddedDatabase {
  url: string;
  /** The folder holding the socket `.s.PGSQL.5432` (psql -h <socketDir> -U postgres postgres). */
  socketDir: string;
  close(): Promise<void>;
}

interface Published {
  pid: number;
  socketDir: string;
}

/** libpq and pg name the socket after the port; the standard one keeps psql's default. */
export const SOCKET_PORT = 5432;
const SOCKET_NAME = `.s.PGSQL.${SOCKET_PORT}`;
/** sun_path holds 108 bytes on Linux (104 on macOS), the terminating NUL included. */
const MAX_SOCKET_PATH = 103;

const lockPath = (dataDir: string) => path.join(dataDir, 'embedded.lock');
const publishedPath = (dataDir: string) => path.join(dataDir, 'embedded.json');

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data folder's lock, or throws DataDirLockedError when a live process holds it. */
export function acquireLock(dataDir: string): () => void {
  ensurePrivateDir(dataDir);
  const file = lockPath(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writePrivateFile(file, String(process.pid), { exclusive: true });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(file, { force: true });
        rmSync(publishedPath(dataDir), { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (isAlive(pid) && pid !== process.pid) throw new DataDirLockedError(dataDir, pid);
      rmSync(file, { force: true }); // stale: its owner died without cleaning up
    }
  }
  throw new DataDirLockedError(dataDir, -1);
}

/** The running server's embedded database, if a live process publishes one for this folder. */
export function findRunningEmbedded(dataDir: string): string | undefined {
  try {
    const published = JSON.parse(readFileSync(publishedPath(dataDir), 'utf8')) as Partial<Published>;
    const lockPid = Number(readFileSync(lockPath(dataDir), 'utf8').trim());
    const { socketDir } = published;
    if (
      published.pid === lockPid &&
      isAlive(lockPid) &&
      typeof socketDir === 'string' &&
      path.isAbsolute(socketDir) &&
      lstatSync(path.join(socketDir, SOCKET_NAME)).isSocket()
    ) {
      return embeddedUrl(socketDir);
    }
  } catch {
    /* nothing running (or an older version's embedded.json, which named a TCP port) */
  }
  return undefined;
}

/** A pg/knex connection string for the socket in `socketDir` (pg reads `host` as a folder). */
export const embeddedUrl = (socketDir: string) => `postgres://postgres@/postgres?host=${encodeURIComponent(socketDir)}`;

/**
 * DATA_DIR/run, or, when that path is too long for a socket address, a fresh 0700 folder in the
 * temporary directory (mkdtemp makes it private and unguessable), removed at close.
 */
function socketFolder(dataDir: string): { dir: string; temporary: boolean } {
  const dir = path.join(dataDir, 'run');
  if (Buffer.byteLength(path.join(dir, SOCKET_NAME)) <= MAX_SOCKET_PATH) {
    ensurePrivateDir(dir);
    return { dir, temporary: false };
  }
  return { dir: mkdtempSync(path.join(os.tmpdir(), 'linkbridge-db-')), temporary: true };
}

export async function startEmbedded(opts: {
  dataDir: string;
  maxConnections?: number;
  /** Publish the socket for the CLI (the server does; a CLI opening the folder itself does not). */
  publish?: boolean;
  onCreate?: () => void;
}): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(opts.dataDir);
  const release = acquireLock(dataDir);
  let socket: { dir: string; temporary: boolean } | undefined;
  try {
    // An older version left most of pgdata 0666 and the folders 0755: fix them before opening.
    const loosened = makeTreePrivate(dataDir);
    if (loosened) logger.info({ dataDir, entries: loosened }, 'removed group and other access from the data folder');
    socket = socketFolder(dataDir);
    const socketPath = path.join(socket.dir, SOCKET_NAME);
    rmSync(socketPath, { force: true }); // a crashed owner's socket; the lock says it is gone
    const pgdata = path.join(dataDir, 'pgdata');
    if (!existsSync(pgdata)) opts.onCreate?.();
    // PGlite ships CommonJS builds too; require them lazily (loading the WASM is not free) and
    // without import(), which jest's sandbox cannot run without --experimental-vm-modules.
    const { PGlite } = require('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
    const { PGLiteSocketServer } = require('@electric-sql/pglite-socket') as typeof import('@electric-sql/pglite-socket');
    const { db, server } = await withPrivateUmask(async () => {
      const db = await PGlite.create(pgdata);
      try {
        const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: opts.maxConnections ?? 100 });
        // Replace the socket server's query queue with one that keeps each connection's exchange whole.
        (server as unknown as { queryQueue: PgliteSessionQueue }).queryQueue = new PgliteSessionQueue(db);
        await server.start();
        return { db, server };
      } catch (err) {
        await db.close();
        throw err;
      }
    });
    chmodSync(socketPath, PRIVATE_FILE_MODE);
    // A new pgdata is extracted with files of mode 0666 (inside the 0700 folder, but still).
    makeTreePrivate(pgdata);
    if (opts.publish) writePrivateFile(publishedPath(dataDir), JSON.stringify({ pid: process.pid, socketDir: socket.dir } satisfies Published));
    const socketDir = socket.dir;
    const temporary = socket.temporary;
    return {
      url: embeddedUrl(socketDir),
      socketDir,
      async close() {
        try {
          await server.stop();
          await db.close();
        } finally {
          release();
          if (temporary) rmSync(socketDir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    release();
    if (socket?.temporary) rmSync(socket.dir, { recursive: true, force: true });
    throw err;
  }
}
