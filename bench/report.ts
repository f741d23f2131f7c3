import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { HeapSummary } from './heap';
import { LoadResult, percentile } from './load';

/** Aggregation of the rounds, the ratios, the pass/fail checks and the printed/JSON report. */

export type Side = 'floor' | 'ours' | 'peer';

export interface TargetDef {
  name: string;
  /** What it is, in a few words (printed and in the JSON). */
  label: string;
  side: Side;
  /** How it is driven, for the table: "32 conns" (closed loop) or "20/s" (fixed rate). */
  load: string;
  /** For ratios to the peer: the peer target doing the same job. */
  peer?: string;
  /** A fixed-rate load: its requests/s is the rate asked for, so no ratio means anything. */
  fixedRate?: boolean;
  /** How the process under test ran (our server: its defaults with the log to a file, a variant, a scale). */
  config?: string;
}

/** Where the CPU went during one measured round (cores = CPU seconds per wall second). */
export interface CpuRound {
  /** The process tree under test (ours, the floor or the peer). */
  processCores: number;
  /** PostgreSQL backends connected to the benchmark database. */
  postgresCores: number;
  /** This process: autocannon and the login pacer. */
  loadgenCores: number;
  /** Every core of the machine that was busy. */
  machineBusyCores: number;
  /** Busy cores not accounted for above: other work on the machine, PostgreSQL's own background processes. */
  otherCores: number;
  processMsPerRequest: number;
  postgresMsPerRequest: number;
}

const CPU_SUMMARY = ['processMsPerRequest', 'postgresMsPerRequest', 'loadgenCores', 'machineBusyCores', 'otherCores'] as const;
export type CpuSummary = Pick<CpuRound, (typeof CPU_SUMMARY)[number]>;

export interface RoundSummary {
  round: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  ok: number;
  /** Responses with another status, socket errors and timeouts. */
  bad: number;
  statuses: Record<string, number>;
  seconds: number;
  peakRssMb: number;
  cpu?: CpuRound;
}

export interface TargetSummary extends TargetDef {
  /** Medians over the rounds: a round hit by a burst of other work on the machine does not decide. */
  reqPerSec: number;
  p50: number;
  p99: number;
  /** Over every response of every round pooled (kept in the JSON for comparison). */
  pooledP50?: number;
  pooledP99?: number;
  peakRssMb: number;
  requests: number;
  bad: number;
  rounds: RoundSummary[];
  /** Medians over the rounds. */
  cpu?: CpuSummary;
  xFloorReqPerSec?: number;
  xFloorP99?: number;
  xPeerReqPerSec?: number;
}

export interface Check {
  target: string;
  requirement: string;
  measured: string;
  status: 'pass' | 'fail' | 'info';
}

const round2 = (n: number) => Math.round(n * 100) / 100;
export const median = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Collects the rounds of one target (and pools their latencies for the JSON). */
export class TargetRecorder {
  private latencies: number[] = [];
  readonly rounds: RoundSummary[] = [];

  constructor(readonly def: TargetDef) {}

  add(r: LoadResult, peakRssMb: number, cpu?: CpuRound): RoundSummary {
    const sorted = [...r.latencies].sort((a, b) => a - b);
    const s: RoundSummary = {
      round: this.rounds.length + 1,
      reqPerSec: round2(r.ok / Math.max(r.seconds, 0.001)),
      p50: round2(percentile(sorted, 50)),
      p99: round2(percentile(sorted, 99)),
      ok: r.ok,
      bad: r.errors + Object.entries(r.statuses).reduce((n, [, c]) => n + c, 0) - r.ok,
      statuses: r.statuses,
      seconds: round2(r.seconds),
      peakRssMb: round2(peakRssMb),
      ...(cpu ? { cpu } : {}),
    };
    this.rounds.push(s);
    for (const l of r.latencies) this.latencies.push(l);
    return s;
  }

  summary(): TargetSummary {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const cpu = this.rounds.map((r) => r.cpu).filter((x): x is CpuRound => x !== undefined);
    return {
      ...this.def,
      reqPerSec: round2(median(this.rounds.map((r) => r.reqPerSec))),
      p50: round2(median(this.rounds.map((r) => r.p50))),
      p99: round2(median(this.rounds.map((r) => r.p99))),
      pooledP50: round2(percentile(sorted, 50)),
      pooledP99: round2(percentile(sorted, 99)),
      peakRssMb: round2(Math.max(0, ...this.rounds.map((r) => r.peakRssMb))),
      requests: this.rounds.reduce((n, r) => n + r.ok, 0),
      bad: this.rounds.reduce((n, r) => n + r.bad, 0),
      rounds: this.rounds,
      ...(cpu.length ? { cpu: Object.fromEntries(CPU_SUMMARY.map((k) => [k, Math.round(median(cpu.map((x) => x[k])) * 1000) / 1000])) as CpuSummary } : {}),
    };
  }
}

/** The scale suffix of a row measured at the second scale ("@5M"), else "". */
const scaleOf = (name: string, scale: string | undefined) => (scale && name.endsWith(`@${scale}`) ? `@${scale}` : '');

export function addRatios(targets: TargetSummary[], scale?: string): void {
  for (const t of targets) {
    // Rows at the second scale are compared with the floor at that scale.
    const floor = targets.find((f) => f.name === `floor${scaleOf(t.name, scale)}`);
    if (t.fixedRate) continue;
    if (floor && t.side !== 'floor' && floor.reqPerSec > 0 && floor.p99 > 0) {
      t.xFloorReqPerSec = round2(t.reqPerSec / floor.reqPerSec);
      t.xFloorP99 = round2(t.p99 / floor.p99);
    }
    const peer = t.peer ? targets.find((p) => p.name === t.peer) : undefined;
    if (peer && peer.reqPerSec > 0) t.xPeerReqPerSec = round2(t.reqPerSec / peer.reqPerSec);
  }
}

/** A target whose answers were not what the load expected measures nothing. */
export const badShare = (t: TargetSummary) => t.bad / Math.max(1, t.requests + t.bad);

const fmt = (n: number | undefined, digits = 1) => (n === undefined ? '-' : n.toFixed(digits));

/** A Markdown table (first column left-aligned, the others right-aligned), readable as plain text. */
function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function formatTable(targets: TargetSummary[]): string {
  const header = ['target', 'load', 'req/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'x floor req/s', 'x floor p99', 'x peer req/s', 'bad', 'configuration'];
  const rows = targets.map((t) => [
    t.name,
    t.load,
    fmt(t.reqPerSec, 0),
    fmt(t.p50, 2),
    fmt(t.p99, 2),
    fmt(t.peakRssMb, 0),
    fmt(t.xFloorReqPerSec, 2),
    fmt(t.xFloorP99, 2),
    fmt(t.xPeerReqPerSec, 2),
    t.bad === 0 ? '0' : `${t.bad} (${(badShare(t) * 100).toFixed(1)}%)`,
    t.config ?? '',
  ]);
  return markdownTable(header, rows);
}

/** Where the CPU went: per request in the process under test and in PostgreSQL, and the machine. */
export function formatCpuTable(targets: TargetSummary[]): string {
  const header = ['target', 'process CPU ms/req', 'postgres CPU ms/req', 'load generator cores', 'busy cores', "others' cores"];
  const rows = targets
    .filter((t) => t.cpu)
    .map((t) => [t.name, fmt(t.cpu!.processMsPerRequest, 3), fmt(t.cpu!.postgresMsPerRequest, 3), fmt(t.cpu!.loadgenCores, 2), fmt(t.cpu!.machineBusyCores, 2), fmt(t.cpu!.otherCores, 2)]);
  return markdownTable(header, rows);
}

export function describeMachine(pgVersion: string, root: string) {
  const cpus = os.cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    /* not a git checkout */
  }
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: pgVersion,
    commit,
    /** 1-minute load average when the run started: other work on the machine makes figures noisy. */
    loadAverageAtStart: Math.round(os.loadavg()[0] * 100) / 100,
  };
}
export type MachineInfo = ReturnType<typeof describeMachine>;

export interface Run {
  startedAt: Date;
  machine: MachineInfo;
  settings: { rounds: number; seconds: number; warmupSeconds: number; connections: number; codeConnections: number; loginRate: number; serverEnv: Record<string, string> };
  seed: { seconds: number; counts: Record<string, number> };
  targets: TargetSummary[];
  memory: MemoryReport;
  webConcurrency: WebConcurrencyReport | undefined;
  /** Where our server wrote its .cpuprofile (BENCH_CPU_PROF=1). */
  profileDir: string | undefined;
  /** The second scale (rows `<target>@<label>`), when measured. */
  scale?: ScaleReport;
  /** Our servers' request lines against the answers they gave. */
  logs: LogReport[];
  /** What held our server's memory, when it was over the target after the run. */
  heap?: HeapSummary;
}

export interface ScaleReport {
  label: string;
  baseTokens: number;
  tokens: number;
  seedSeconds: number;
  counts: Record<string, number>;
}

export interface LogReport {
  server: string;
  config: string;
  file: string;
  /** Answers the load generator received from it (warm-ups included). */
  answers: number;
  /** Request lines in its log (the readiness polls at start-up excluded). */
  lines: number;
  mb: number;
}

/**
 * The end of a run: ratios and goals, then the JSON (timestamped, and as latest.json) and
 * latest.md (the README's figures block) in `dir`, and the same tables on `log`. Returns the checks.
 */
export function report(run: Run, dir: string, log: (m: string) => void): Check[] {
  const { startedAt, machine: m, targets, memory } = run;
  addRatios(targets, run.scale?.label);
  const checks = evaluate(new Map(targets.map((t) => [t.name, t])), memory, run.webConcurrency, run.scale, run.logs);
  const file = run.profileDir && existsSync(run.profileDir) ? readdirSync(run.profileDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
  const profile = file ? summarizeCpuProfile(join(run.profileDir!, file)) : undefined;
  const finishedAt = new Date();
  const minutes = Math.round(((finishedAt.getTime() - startedAt.getTime()) / 60000) * 10) / 10;
  const result = {
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    minutes,
    machine: { ...m, loadAverageAtEnd: Math.round(os.loadavg()[0] * 100) / 100 },
    settings: run.settings,
    seed: run.seed,
    targets,
    memory,
    webConcurrency: run.webConcurrency,
    scale: run.scale,
    logs: run.logs,
    heap: run.heap,
    checks,
    profile,
  };
  const machineLine =
    `${m.cpus} x ${m.cpuModel}, ${m.memoryGb} GB, ${m.os}, Node ${m.node}, ${m.postgres}, commit ${m.commit}, ` +
    `load average ${m.loadAverageAtStart} at the start (others' cores during the rounds: median ${median(targets.map((t) => t.cpu?.otherCores ?? 0)).toFixed(2)})`;
  const memoryLine = `Memory of our server: peak ${memory.peakMb} MB (per round of targets: ${memory.roundPeaksMb.join(', ')} MB), ${memory.endMb} MB 1.5 s after the run, ${memory.settledMb} MB once idle${
    memory.settledKinds ? ` (${memory.settledKinds.anonymousMb} MB anonymous: the JavaScript heap and native allocations; ${memory.settledKinds.fileMb} MB mapped files: node's code and libraries)` : ''
  }.`;
  const heapLines = run.heap
    ? [
        '',
        `Heap snapshot of our server after the run (${run.heap.totalMb} MB of JavaScript heap; self sizes by constructor):`,
        ...run.heap.top.map((h) => `  ${h.selfMb.toFixed(1).padStart(6)} MB  ${String(h.count).padStart(8)} x ${h.name}${h.type === 'object' || h.type === 'closure' ? '' : ''}`),
      ]
    : [];
  const scaleLines = run.scale
    ? ['', `Rows @${run.scale.label}: the same loads once the tables held ${run.scale.tokens} live access tokens (from ${run.scale.baseTokens}; grown in ${run.scale.seedSeconds} s: ${Object.entries(run.scale.counts).map(([k, v]) => `${k} ${v}`).join(', ')}).`]
    : [];
  const logLines = run.logs.length
    ? ['', 'Request log lines of our servers (each answer must have its line):', ...run.logs.map((l) => `  ${l.server} (${l.config}): ${l.lines} lines for ${l.answers} answers, ${l.mb} MB, ${l.file}`)]
    : [];
  const date = startedAt.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  // The tables and goals, as printed and as the README's figures block (latest.md).
  const body = (cpuHeading: string[], checkLines: string[]) => [formatTable(targets), ...scaleLines, '', memoryLine, ...heapLines, ...logLines, '', ...cpuHeading, formatCpuTable(targets), '', ...checkLines];
  const markdown = [
    `Run of ${date} (${minutes} min): ${machineLine}.`,
    '',
    ...body(['Where the CPU went (cores = CPU seconds per second):', ''], checks.map((c) => `- **${c.status.toUpperCase()}** ${c.target}: ${c.requirement} -- ${c.measured}`)),
    '',
  ].join('\n');

  mkdirSync(dir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const [json, latest, md] = [`${stamp}.json`, 'latest.json', 'latest.md'].map((f) => join(dir, f));
  const text = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(json, text);
  writeFileSync(latest, text);
  writeFileSync(md, markdown);

  const lines = [
    '',
    `Results (${m.cpus} x ${m.cpuModel}, Node ${m.node}, ${m.postgres}; medians of ${run.settings.rounds} rounds)`,
    ...body(['Where the CPU went (medians of the rounds; cores = CPU seconds per second):'], checks.map((c) => `${c.status.toUpperCase()}  ${c.target}: ${c.requirement} -- ${c.measured}`)),
    ...(profile
      ? [
          '',
          `CPU profile of our server (${run.profileDir}), share of its busy time (self):`,
          `  by package:  ${profile.byPackage.map(([k, v]) => `${k} ${v}%`).join(', ')}`,
          ...profile.byFunction.map(([fn, pct]) => `  ${pct.toFixed(1).padStart(5)}%  ${fn}`),
        ]
      : []),
    '',
    `Written ${json} (and ${latest}, ${md}) in ${minutes} min`,
  ];
  for (const line of lines) log(line);
  return checks;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Where the time went in a V8 .cpuprofile: self time by package and by function. */
export function summarizeCpuProfile(file: string, top = 15): { byPackage: Array<[string, number]>; byFunction: Array<[string, number]> } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  // Shares of the busy time: the idle samples (waiting for the database or the network) are left out.
  const total = profile.nodes.reduce((n, node) => n + (node.callFrame.functionName === '(idle)' ? 0 : (node.hitCount ?? 0)), 0) || 1;
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits || node.callFrame.functionName === '(idle)') continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const pkg = packageOf(url, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits);
    const fn = `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
  }
  const share = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => [k, round2((100 * v) / total)] as [string, number]);
  return { byPackage: share(byPackage), byFunction: share(byFunction) };
}

function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node core';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  const ours = /\/dist\/(src\/[^/]+)/.exec(url);
  if (ours) return `linkbridge ${ours[1]}`;
  return shortUrl(url);
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

export interface MemoryReport {
  /** Resident size of our server (the whole process tree), in MB, over the whole run. */
  peakMb: number;
  /** Peak during the first half of the rounds (rounds 1..R/2) and during the second half. */
  firstHalfPeakMb: number;
  secondHalfPeakMb: number;
  /** Second half against the first, in percent; undefined with a single round (no halves). */
  growthPct: number | undefined;
  /** 1.5 s after the whole run. */
  endMb: number;
  /** Once idle long enough for V8 to give back what the load made it reserve (it stopped falling, at most ~30 s). */
  settledMb: number;
  /** Peak of each round of targets, in order: a leak shows as a steady climb. */
  roundPeaksMb: number[];
  /** Once idle: the resident size by kind (RssAnon and RssFile of /proc/PID/status), when readable. */
  settledKinds?: { anonymousMb: number; fileMb: number };
}

/** From our server's peak (MB) in each round of targets: the two halves compared (the same mix of targets in both). */
export function memoryReport(roundPeaks: number[], peakMb: number, endMb: number, settledMb: number, settledKinds?: MemoryReport['settledKinds']): MemoryReport {
  const r1 = (n: number) => Math.round(n * 10) / 10;
  const half = Math.max(1, Math.floor(roundPeaks.length / 2));
  const [first, second] = [roundPeaks.slice(0, half), roundPeaks.slice(half)].map((peaks) => Math.max(0, ...peaks));
  return {
    peakMb: r1(peakMb),
    firstHalfPeakMb: r1(first),
    secondHalfPeakMb: r1(second),
    growthPct: roundPeaks.length >= 2 && first > 0 ? r1(((second - first) / first) * 100) : undefined,
    endMb: r1(endMb),
    settledMb: r1(settledMb),
    roundPeaksMb: roundPeaks.map(r1),
    ...(settledKinds ? { settledKinds: { anonymousMb: r1(settledKinds.anonymousMb), fileMb: r1(settledKinds.fileMb) } } : {}),
  };
}

export interface WebConcurrencyReport {
  requested: number;
  /** Processes the server really ran (1 means the setting was ignored). */
  processes: number;
  oneProcessReqPerSec: number;
  severalReqPerSec: number;
  ratio: number;
  cores: number;
}

/** Issue 13's targets, for our server at its defaults. */
export const LIMITS = {
  apiMinXFloorReqPerSec: { 'api-me': 1.5, 'api-bookmarks': 1.0 } as Record<string, number>,
  apiMaxXFloorP99: 1.0,
  refreshMinXPeer: 1.5,
  codeExchangeMaxP99Ms: 100,
  loginsMaxXIdleP99: 2,
  memoryMaxMb: 150,
  memoryMaxGrowthPct: 10,
  maxBadShare: 0.01,
  /** At the second scale, each target's req/s against its own at the first. */
  scaleMinRatio: 0.9,
};

/** "5M", "100k": a token count as the rows name it. */
export const scaleLabel = (n: number) => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(0)}k` : String(n));

/** The targets of the issue, checked against the figures of this run. */
export function evaluate(byName: Map<string, TargetSummary>, memory: MemoryReport | undefined, wc: WebConcurrencyReport | undefined, scale?: ScaleReport, logs: LogReport[] = []): Check[] {
  const checks: Check[] = [];
  const check = (target: string, requirement: string, measured: string, ok: boolean | 'info') =>
    checks.push({ target, requirement, measured, status: ok === 'info' ? 'info' : ok ? 'pass' : 'fail' });
  const floor = byName.get('floor');

  for (const t of byName.values()) {
    if (badShare(t) > LIMITS.maxBadShare) check(t.name, 'answers as expected (the figures are void otherwise)', `${t.bad} unexpected answers or errors (${(badShare(t) * 100).toFixed(1)}%)`, false);
  }
  for (const t of ['api-me', 'api-bookmarks'].map((name) => byName.get(name))) {
    if (!t || !floor) continue;
    const minReqs = LIMITS.apiMinXFloorReqPerSec[t.name];
    const maxP99 = LIMITS.apiMaxXFloorP99;
    check(t.name, `req/s >= ${minReqs.toFixed(1)}x the floor`, `${t.reqPerSec.toFixed(0)} vs ${floor.reqPerSec.toFixed(0)} req/s = ${fmt(t.xFloorReqPerSec, 2)}x`, (t.xFloorReqPerSec ?? 0) >= minReqs);
    if (t.name === 'api-me') check(t.name, `p99 <= ${maxP99.toFixed(1)}x the floor's`, `${t.p99.toFixed(2)} vs ${floor.p99.toFixed(2)} ms = ${fmt(t.xFloorP99, 2)}x`, (t.xFloorP99 ?? Infinity) <= maxP99);
  }
  const cold = byName.get('api-me-cold');
  const warm = byName.get('api-me');
  if (cold && floor) {
    const versusWarm = warm && warm.reqPerSec > 0 ? `; ${(cold.reqPerSec / warm.reqPerSec).toFixed(2)}x api-me within sessions` : '';
    check(cold.name, "each token's first call, the token cache cold (no goal beside the floor: a join query per request against its one SELECT; its @scale row is checked)", `${cold.reqPerSec.toFixed(0)} vs ${floor.reqPerSec.toFixed(0)} req/s = ${fmt(cold.xFloorReqPerSec, 2)}x the floor, p99 ${fmt(cold.xFloorP99, 2)}x${versusWarm}`, 'info');
  }
  for (const t of ['refresh-off', 'refresh-rotate'].map((name) => byName.get(name))) {
    const peer = t?.peer ? byName.get(t.peer) : undefined;
    if (!t || !peer) continue;
    check(t.name, `req/s >= ${LIMITS.refreshMinXPeer}x the peer's refresh`, `${t.reqPerSec.toFixed(0)} vs ${peer.reqPerSec.toFixed(0)} req/s = ${fmt(t.xPeerReqPerSec, 2)}x`, (t.xPeerReqPerSec ?? 0) >= LIMITS.refreshMinXPeer);
  }
  for (const code of [byName.get('code-exchange'), scale && byName.get(`code-exchange@${scale.label}`)]) {
    if (!code) continue;
    const max = LIMITS.codeExchangeMaxP99Ms;
    check(code.name, `p99 < ${max} ms at ${code.load}`, `p99 ${code.p99.toFixed(2)} ms (p50 ${code.p50.toFixed(2)} ms, ${code.reqPerSec.toFixed(0)} req/s)`, code.p99 < max);
  }
  if (scale) {
    for (const at of byName.values()) {
      if (!at.name.endsWith(`@${scale.label}`) || at.side !== 'ours') continue;
      const first = byName.get(at.name.slice(0, -scale.label.length - 1));
      if (!first || first.reqPerSec <= 0) continue;
      const x = at.reqPerSec / first.reqPerSec;
      check(at.name, `req/s with ${scale.label} live tokens >= ${LIMITS.scaleMinRatio}x with ${scaleLabel(scale.baseTokens)}`, `${at.reqPerSec.toFixed(0)} vs ${first.reqPerSec.toFixed(0)} req/s = ${x.toFixed(2)}x`, x >= LIMITS.scaleMinRatio);
    }
  }
  for (const l of logs) {
    check(`log (${l.server})`, 'a request line for every answer (nothing dropped under load)', `${l.lines} lines for ${l.answers} answers`, l.lines >= l.answers);
  }
  for (const t of byName.values()) {
    if (!t.name.includes('@') || t.name.endsWith(`@${scale?.label}`) || !t.config || t.side !== 'ours' || /@(1proc|wc\d+)$/.test(t.name)) continue;
    const first = byName.get(t.name.slice(0, t.name.indexOf('@')));
    if (first && first.reqPerSec > 0) check(t.name, `beside ${first.name} (${first.config})`, `${t.reqPerSec.toFixed(0)} vs ${first.reqPerSec.toFixed(0)} req/s = ${(t.reqPerSec / first.reqPerSec).toFixed(2)}x; ${t.config}`, 'info');
  }
  const [idle, busy, login] = ['api-me', 'api-me+logins', 'login'].map((name) => byName.get(name));
  if (idle && busy) {
    const x = idle.p99 > 0 ? busy.p99 / idle.p99 : Infinity;
    const logins = login ? `; logins ran at ${(login.requests / login.rounds.reduce((s, r) => s + r.seconds, 0)).toFixed(1)}/s, p50 ${login.p50.toFixed(1)} ms, p99 ${login.p99.toFixed(1)} ms` : '';
    check(busy.name, `API p99 while logins run < ${LIMITS.loginsMaxXIdleP99}x its idle p99`, `${busy.p99.toFixed(2)} vs ${idle.p99.toFixed(2)} ms = ${x.toFixed(2)}x${logins}`, x < LIMITS.loginsMaxXIdleP99);
  }
  if (memory) {
    const { endMb, settledMb, peakMb, growthPct, firstHalfPeakMb, secondHalfPeakMb } = memory;
    check('memory', `server resident size after the full run, once idle, < ${LIMITS.memoryMaxMb} MB`, `${settledMb.toFixed(0)} MB (${endMb.toFixed(0)} MB 1.5 s after the last request; peak ${peakMb.toFixed(0)} MB)`, settledMb < LIMITS.memoryMaxMb);
    check(
      'memory',
      `no growth between the halves of the run (peak <= +${LIMITS.memoryMaxGrowthPct}%)`,
      growthPct === undefined
        ? 'needs BENCH_ROUNDS >= 2'
        : `peak ${firstHalfPeakMb.toFixed(0)} MB in the first half, ${secondHalfPeakMb.toFixed(0)} MB in the second (${growthPct >= 0 ? '+' : ''}${growthPct.toFixed(1)}%)`,
      growthPct === undefined ? 'info' : growthPct <= LIMITS.memoryMaxGrowthPct,
    );
  }
  if (wc) {
    const versus = `${wc.severalReqPerSec.toFixed(0)} vs ${wc.oneProcessReqPerSec.toFixed(0)} req/s`;
    check(
      'WEB_CONCURRENCY',
      'several processes scale the API when cores are free (report)',
      wc.processes <= 1
        ? `WEB_CONCURRENCY=${wc.requested} was ignored: the server ran 1 process (${versus} = ${wc.ratio.toFixed(2)}x)`
        : `${wc.processes} processes (WEB_CONCURRENCY=${wc.requested}): GET /api/me ${versus} with 1 = ${wc.ratio.toFixed(2)}x, on ${wc.cores} cores shared with PostgreSQL and the load generator`,
      'info',
    );
  }
  return checks;
}
