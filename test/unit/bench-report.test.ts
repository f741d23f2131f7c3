import { percentile } from '../../bench/load';
import { addRatios, evaluate, TargetRecorder, TargetSummary } from '../../bench/report';

/** The benchmark's arithmetic: what it prints is only as good as these. */

const load = (ok: number, seconds: number, latencies: number[], other: Record<string, number> = {}) => ({
  ok,
  seconds,
  latencies,
  errors: 0,
  statuses: { '200': ok, ...other },
});

describe('percentile', () => {
  it('uses the nearest rank of sorted samples', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 99)).toBe(0);
  });
});

describe('TargetRecorder', () => {
  it('takes the median of the rounds, and pools latencies for the JSON', () => {
    const r = new TargetRecorder({ name: 'api-me', label: '', side: 'ours', load: '32 conns' });
    r.add(load(1000, 10, [1, 2, 3]), 100);
    r.add(load(3000, 10, [4, 5, 6]), 120);
    r.add(load(2000, 10, [7, 8, 9]), 110);
    const s = r.summary();
    expect(s.reqPerSec).toBe(200);
    expect(s.p50).toBe(5); // round p50s 2, 5, 8
    expect(s.p99).toBe(6); // round p99s 3, 6, 9
    expect(s.pooledP50).toBe(5);
    expect(s.pooledP99).toBe(9);
    expect(s.peakRssMb).toBe(120);
    expect(s.requests).toBe(6000);
    expect(s.bad).toBe(0);
  });

  it('counts other statuses and socket errors as bad', () => {
    const r = new TargetRecorder({ name: 'refresh-off', label: '', side: 'ours', load: '32 conns' });
    r.add({ ...load(90, 1, [1]), errors: 2, statuses: { '200': 90, '400': 8 } }, 0);
    expect(r.summary().bad).toBe(10);
  });
});

function summary(name: string, side: TargetSummary['side'], reqPerSec: number, p99: number, extra: Partial<TargetSummary> = {}): TargetSummary {
  return { name, label: '', side, load: '32 conns', reqPerSec, p50: p99 / 2, p99, peakRssMb: 100, requests: 1000, bad: 0, rounds: [], ...extra };
}

describe('ratios and goals', () => {
  it('compares with the floor and the peer, and checks every goal', () => {
    const targets = [
      summary('floor', 'floor', 4000, 20),
      summary('api-me', 'ours', 6400, 20),
      summary('api-me-cold', 'ours', 2000, 40),
      summary('api-bookmarks', 'ours', 3800, 40),
      summary('refresh-off', 'ours', 1600, 50, { peer: 'peer-refresh' }),
      summary('refresh-rotate', 'ours', 1400, 60, { peer: 'peer-refresh' }),
      summary('peer-refresh', 'peer', 1000, 50),
      summary('code-exchange', 'ours', 500, 120, { load: '50 conns' }),
      summary('api-me+logins', 'ours', 3000, 35),
      summary('login', 'ours', 20, 300, { load: '20/s', fixedRate: true }),
    ];
    addRatios(targets);
    const byName = new Map(targets.map((t) => [t.name, t]));
    expect(byName.get('api-me')!.xFloorReqPerSec).toBe(1.6);
    expect(byName.get('api-me')!.xFloorP99).toBe(1);
    expect(byName.get('refresh-off')!.xPeerReqPerSec).toBe(1.6);
    expect(byName.get('login')!.xFloorReqPerSec).toBeUndefined();

    const checks = evaluate(byName, { peakMb: 180, firstHalfPeakMb: 150, secondHalfPeakMb: 170, growthPct: 13.3, endMb: 160, settledMb: 140, roundPeaksMb: [150, 170] }, undefined);
    const status = (target: string, words: string) => checks.find((c) => c.target === target && c.requirement.includes(words))?.status;
    expect(status('api-me', 'req/s')).toBe('pass');
    expect(status('api-me', 'p99')).toBe('pass');
    expect(status('api-bookmarks', 'req/s')).toBe('fail');
    expect(status('refresh-off', 'peer')).toBe('pass');
    expect(status('refresh-rotate', 'peer')).toBe('fail');
    expect(status('code-exchange', 'p99')).toBe('fail');
    expect(status('api-me+logins', 'idle')).toBe('pass');
    expect(status('memory', '150 MB')).toBe('pass'); // once idle: 140 MB
    expect(status('api-bookmarks', 'p99')).toBeUndefined(); // only api-me has a p99 goal
    expect(status('memory', 'halves')).toBe('fail');
    // The cold row is reported beside the floor and the warm row, with no goal of its own.
    const cold = checks.find((c) => c.target === 'api-me-cold');
    expect(cold?.status).toBe('info');
    expect(cold?.measured).toContain('0.50x the floor');
    expect(cold?.measured).toContain('0.31x api-me within sessions');
  });

  it('compares each row at the second scale with its own figure at the first, and the rows at the floor of their scale', () => {
    const targets = [
      summary('floor', 'floor', 4000, 20),
      summary('api-me', 'ours', 6000, 20),
      summary('refresh-off', 'ours', 1000, 50),
      summary('floor@5M', 'floor', 3000, 30),
      summary('api-me@5M', 'ours', 5800, 20),
      summary('refresh-off@5M', 'ours', 800, 60),
      summary('api-me@pipe', 'ours', 5000, 25, { config: 'a pipe' }),
    ];
    const scale = { label: '5M', baseTokens: 100000, tokens: 5000000, seedSeconds: 100, counts: {} };
    addRatios(targets, scale.label);
    const byName = new Map(targets.map((t) => [t.name, t]));
    expect(byName.get('api-me@5M')!.xFloorReqPerSec).toBe(1.93); // against floor@5M
    const checks = evaluate(byName, undefined, undefined, scale, [{ server: 'main', config: '', file: 'x.log', answers: 100, lines: 99, mb: 1 }]);
    const status = (target: string, words: string) => checks.find((c) => c.target === target && c.requirement.includes(words))?.status;
    expect(status('api-me@5M', '0.9x')).toBe('pass'); // 0.97x
    expect(status('refresh-off@5M', '0.9x')).toBe('fail'); // 0.8x
    expect(status('floor@5M', '0.9x')).toBeUndefined(); // the floor is no target of ours
    expect(status('api-me@pipe', 'beside')).toBe('info');
    expect(status('log (main)', 'every answer')).toBe('fail'); // a line is missing
  });

  it('voids a target whose answers were not the expected ones', () => {
    const t = summary('api-me', 'ours', 1000, 10, { bad: 50, requests: 950 });
    const checks = evaluate(new Map([[t.name, t]]), undefined, undefined);
    expect(checks).toEqual([expect.objectContaining({ target: 'api-me', status: 'fail' })]);
  });
});
