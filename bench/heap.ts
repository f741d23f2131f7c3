import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ChildProcess } from 'node:child_process';
import { sleep } from './procs';

/**
 * What holds our server's memory when it is over the target: a V8 heap snapshot taken by the
 * server itself (started with --heapsnapshot-signal=SIGUSR2 and --diagnostic-dir), summarized by
 * constructor name (self size and count) so the report says what the objects are.
 */

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapSummary {
  file: string;
  totalMb: number;
  top: Array<{ name: string; type: string; count: number; selfMb: number }>;
}

/** Asks the server for a snapshot and waits (up to 60 s) until the file is complete. */
export async function takeHeapSnapshot(proc: ChildProcess, dir: string): Promise<string | undefined> {
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  if (!proc.kill('SIGUSR2')) return undefined;
  let last = -1;
  for (let i = 0; i < 240; i++) {
    await sleep(250);
    const file = (existsSync(dir) ? readdirSync(dir) : []).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const size = statSync(join(dir, file)).size;
    if (size > 0 && size === last) return join(dir, file); // stopped growing: written
    last = size;
  }
  return undefined;
}

export function summarizeHeapSnapshot(file: string, top = 12): HeapSummary {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byKey = new Map<string, { name: string; type: string; count: number; self: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + iType]];
    // Strings and code are grouped by type; objects by constructor name.
    const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + iName]] : `(${type})`;
    const size = snap.nodes[i + iSize];
    total += size;
    const key = `${type}\u0000${name}`;
    const e = byKey.get(key) ?? byKey.set(key, { name, type, count: 0, self: 0 }).get(key)!;
    e.count++;
    e.self += size;
  }
  const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
  return {
    file,
    totalMb: mb(total),
    top: [...byKey.values()]
      .sort((a, b) => b.self - a.self)
      .slice(0, top)
      .map((e) => ({ name: e.name.slice(0, 80), type: e.type, count: e.count, selfMb: mb(e.self) })),
  };
}
