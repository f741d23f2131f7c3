import { spawn } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** Every entry under `root` (root included) whose mode grants anything to group or others. */
export function entriesOpenToOthers(root: string): string[] {
  const open: string[] = [];
  const visit = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    if (st.mode & 0o077) open.push(`${(st.mode & 0o777).toString(8)} ${path.relative(root, p) || '.'}`);
    if (st.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
  };
  visit(root);
  return open;
}

/** The TCP ports a process listens on (Linux: its socket inodes matched against /proc/net/tcp*). */
export function listeningTcpPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A' || !inodes.has(cols[9])) continue; // 0A = LISTEN
      ports.add(parseInt(cols[1].split(':').pop()!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

export const canSwitchUser = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Runs a probe as another OS user (nobody): can it read these files, and does a PostgreSQL
 * start-up message on this Unix socket or these TCP ports get AuthenticationOk? Needs root.
 */
export function probeAsOtherUser(target: { files: string[]; socket?: string; tcpPorts: number[] }): Promise<{
  files: Record<string, string>;
  socket?: string;
  tcp: Record<string, string>;
}> {
  const script = `
const fs = require('fs'), net = require('net');
const t = JSON.parse(process.argv[1]);
const startup = () => {
  const params = Buffer.from('user\\0postgres\\0database\\0postgres\\0\\0');
  const b = Buffer.alloc(8 + params.length); b.writeInt32BE(b.length, 0); b.writeInt32BE(196608, 4); params.copy(b, 8); return b;
};
const pgProbe = (opts) => new Promise((resolve) => {
  const s = net.connect(opts); let got = Buffer.alloc(0);
  const done = (v) => { s.destroy(); resolve(v); };
  s.setTimeout(3000, () => done('timeout'));
  s.on('connect', () => s.write(startup()));
  s.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 9) done(got[0] === 0x52 && got.readInt32BE(5) === 0 ? 'authenticated' : 'refused'); });
  s.on('error', (e) => done(e.code));
  s.on('close', () => done('closed'));
});
(async () => {
  const out = { files: {}, tcp: {} };
  for (const f of t.files) { try { fs.readFileSync(f); out.files[f] = 'read'; } catch (e) { out.files[f] = e.code; } }
  if (t.socket) out.socket = await pgProbe({ path: t.socket });
  for (const port of t.tcpPorts) out.tcp[port] = await pgProbe({ host: '127.0.0.1', port });
  process.stdout.write(JSON.stringify(out));
})();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, JSON.stringify(target)], { uid: 65534, gid: 65534, cwd: '/', env: { PATH: process.env.PATH } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`probe exited ${code}: ${err}`))));
  });
}
