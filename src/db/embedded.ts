import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PgliteSessionQueue } from './pglite-session-queue';

/**
 * The embedded PostgreSQL: PGlite in this process, served over a loopback socket so that knex
 * and pg talk to it exactly as to a real server. One process owns a data folder (lock file); the
 * CLI reaches a running server's database through the port it publishes in `embedded.json`.
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
  port: number;
  close(): Promise<void>;
}

interface Published {
  pid: number;
  port: number;
}

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
  mkdirSync(dataDir, { recursive: true });
  const file = lockPath(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
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
    const published = JSON.parse(readFileSync(publishedPath(dataDir), 'utf8')) as Published;
    const lockPid = Number(readFileSync(lockPath(dataDir), 'utf8').trim());
    if (published.pid === lockPid && isAlive(lockPid) && published.port > 0) return urlFor(published.port);
  } catch {
    /* nothing running */
  }
  return undefined;
}

const urlFor = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;

export async function startEmbedded(opts: {
  dataDir: string;
  port?: number;
  maxConnections?: number;
  /** Publish the port for the CLI (the server does; a CLI opening the folder itself does not). */
  publish?: boolean;
  onCreate?: () => void;
}): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(opts.dataDir);
  const release = acquireLock(dataDir);
  try {
    const pgdata = path.join(dataDir, 'pgdata');
    if (!existsSync(pgdata)) opts.onCreate?.();
    // PGlite ships CommonJS builds too; require them lazily (loading the WASM is not free) and
    // without import(), which jest's sandbox cannot run without --experimental-vm-modules.
    const { PGlite } = require('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
    const { PGLiteSocketServer } = require('@electric-sql/pglite-socket') as typeof import('@electric-sql/pglite-socket');
    const db = await PGlite.create(pgdata);
    const server = new PGLiteSocketServer({
      db,
      host: '127.0.0.1',
      port: opts.port ?? 0,
      maxConnections: opts.maxConnections ?? 100,
    });
    // Replace the socket server's query queue with one that keeps each connection's exchange whole.
    (server as unknown as { queryQueue: PgliteSessionQueue }).queryQueue = new PgliteSessionQueue(db);
    await server.start();
    const port = Number(String(server.getServerConn()).split(':').pop());
    if (opts.publish) writeFileSync(publishedPath(dataDir), JSON.stringify({ pid: process.pid, port } satisfies Published));
    return {
      url: urlFor(port),
      port,
      async close() {
        try {
          await server.stop();
          await db.close();
        } finally {
          release();
        }
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}
