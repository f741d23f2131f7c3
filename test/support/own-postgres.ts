import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A PostgreSQL server of the test's own, which the test can stop and start (fault tests). Uses the
 * machine's PostgreSQL binaries; as root it runs them as the `postgres` user (initdb refuses root).
 */
export class OwnPostgres {
  private constructor(
    private readonly bin: string,
    private readonly dir: string,
    readonly port: number,
    private readonly asUser: string | undefined,
  ) {}

  static available(): boolean {
    return OwnPostgres.findBin() !== undefined && (process.getuid?.() !== 0 || existsSync('/usr/sbin/runuser'));
  }

  private static findBin(): string | undefined {
    const base = '/usr/lib/postgresql';
    if (!existsSync(base)) return undefined;
    const versions = readdirSync(base).sort().reverse();
    for (const v of versions) if (existsSync(path.join(base, v, 'bin', 'pg_ctl'))) return path.join(base, v, 'bin');
    return undefined;
  }

  static async create(): Promise<OwnPostgres> {
    const bin = OwnPostgres.findBin()!;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-pg-'));
    const asUser = process.getuid?.() === 0 ? 'postgres' : undefined;
    if (asUser) {
      const uid = Number(execFileSync('id', ['-u', asUser]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', asUser]).toString().trim());
      chownSync(dir, uid, gid);
    }
    chmodSync(dir, 0o700);
    const pg = new OwnPostgres(bin, dir, await freePort(), asUser);
    pg.run('initdb', ['-D', path.join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await pg.start();
    return pg;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private run(tool: string, args: string[]): void {
    const cmd = path.join(this.bin, tool);
    if (this.asUser) execFileSync('/usr/sbin/runuser', ['-u', this.asUser, '--', cmd, ...args], { stdio: 'pipe' });
    else execFileSync(cmd, args, { stdio: 'pipe' });
  }

  async start(): Promise<void> {
    this.run('pg_ctl', ['-D', path.join(this.dir, 'data'), '-l', path.join(this.dir, 'log'), '-w', '-t', '30', '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  }

  /** Stops at once, as a crash or a network cut would (connections are dropped). */
  async stop(): Promise<void> {
    this.run('pg_ctl', ['-D', path.join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  }

  async destroy(): Promise<void> {
    try {
      await this.stop();
    } catch {
      /* already stopped */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
