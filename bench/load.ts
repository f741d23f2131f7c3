import autocannon from 'autocannon';
import { Agent, request } from 'node:http';

/**
 * Load generators. Closed loop (autocannon, N connections as fast as the server answers) for
 * throughput targets, and an open-loop pacer (a request every 1/rate seconds whatever the server
 * does) for the fixed login rate. Latencies are collected per response with sub-millisecond
 * precision (autocannon's own histogram rounds to whole milliseconds).
 */

export interface HttpCall {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  /** Responses with the expected status. */
  ok: number;
  /** Every status seen, with counts. */
  statuses: Record<string, number>;
  /** Socket errors and timeouts. */
  errors: number;
  seconds: number;
  /** Latency in ms of each expected response, unsorted. */
  latencies: number[];
}

export interface ClosedLoad {
  url: string;
  connections: number;
  seconds: number;
  /** Exactly this many requests instead of `seconds` of them. */
  amount?: number;
  expectStatus: number;
  /** The next request (called once per request: cycles through tokens, codes...). */
  next: () => HttpCall;
  /** Body of each expected response (only when given, e.g. to keep rotated refresh tokens). */
  onBody?: (body: string) => void;
}

/** What a load counted: every status, and the latency of each expected response. */
class Tally {
  ok = 0;
  errors = 0;
  statuses: Record<string, number> = {};
  latencies: number[] = [];

  constructor(private readonly expectStatus: number) {}

  add(status: number, ms: number): void {
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    if (status === this.expectStatus) {
      this.ok++;
      this.latencies.push(ms);
    }
  }

  result(seconds: number, errors = this.errors): LoadResult {
    return { ok: this.ok, statuses: this.statuses, errors, seconds, latencies: this.latencies };
  }
}

export function runClosed(load: ClosedLoad): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const tally = new Tally(load.expectStatus);
    const onResponse = load.onBody
      ? (status: number, body: string) => {
          if (status === load.expectStatus) load.onBody!(body);
        }
      : undefined;
    const instance = autocannon(
      {
        url: load.url,
        connections: load.connections,
        ...(load.amount ? { amount: load.amount } : { duration: load.seconds }),
        timeout: 10,
        requests: [
          {
            setupRequest: (req) => {
              const call = load.next();
              return { ...req, method: call.method, path: call.path, headers: { ...(call.headers ?? {}) }, body: call.body ?? '' };
            },
            onResponse,
          },
        ],
      },
      (err: unknown, result: autocannon.Result) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        resolve(tally.result(result.duration, result.errors));
      },
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => tally.add(statusCode, responseTime));
  });
}

export interface Pacer {
  /** Starts counting from now (after a warm-up). */
  mark(): void;
  /** Stops sending, waits for requests in flight, returns what was counted since mark(). */
  stop(): Promise<LoadResult>;
}

/** Sends `ratePerSecond` requests per second at even intervals, each on its own (open loop). */
export function startPaced(opts: { host: string; port: number; ratePerSecond: number; expectStatus: number; next: () => HttpCall }): Pacer {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let tally = new Tally(opts.expectStatus);
  let markedAt = process.hrtime.bigint();
  const inFlight = new Set<Promise<void>>();
  const intervalMs = 1000 / opts.ratePerSecond;
  let sent = 0;
  const startedAt = Date.now();

  const fire = () => {
    const call = opts.next();
    const counted = tally; // requests sent before the last mark() are not counted
    const t0 = process.hrtime.bigint();
    const p = new Promise<void>((resolve) => {
      const req = request(
        { host: opts.host, port: opts.port, method: call.method, path: call.path, headers: { ...(call.headers ?? {}), ...(call.body ? { 'content-length': String(Buffer.byteLength(call.body)) } : {}) }, agent, timeout: 10000 },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (counted === tally) tally.add(res.statusCode ?? 0, Number(process.hrtime.bigint() - t0) / 1e6);
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        if (counted === tally) tally.errors++;
        resolve();
      });
      req.end(call.body);
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  // A fine timer that catches up, so the average rate holds even when a tick is late.
  const timer = setInterval(() => {
    const due = Math.floor((Date.now() - startedAt) / intervalMs) + 1;
    while (sent < due) {
      sent++;
      fire();
    }
  }, Math.max(5, Math.floor(intervalMs / 2)));

  return {
    mark() {
      tally = new Tally(opts.expectStatus);
      markedAt = process.hrtime.bigint();
    },
    async stop() {
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - markedAt) / 1e9;
      await Promise.all([...inFlight]);
      agent.destroy();
      return tally.result(seconds);
    },
  };
}

/** Percentile of unsorted samples (nearest rank); 0 when there are none. */
export function percentile(sortedAscending: number[], p: number): number {
  if (sortedAscending.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sortedAscending.length);
  return sortedAscending[Math.min(sortedAscending.length, Math.max(1, rank)) - 1];
}

/**
 * POST /login requests for the fixed-rate logins, each with a fresh form (CSRF cookie + CSRF
 * token) fetched ahead, so the measured load is the POST alone (a successful login rotates the
 * session, spending its form).
 */
export class LoginForms {
  private readonly forms: Array<{ cookie: string; csrf: string }> = [];
  private user = 0;

  constructor(
    private readonly base: URL,
    private readonly password: string,
    private readonly email: (n: number) => string,
  ) {}

  /** Tops the forms up to `need`, 8 at a time. */
  async refill(need: number): Promise<void> {
    const one = async () => {
      const res = await fetch(`${this.base.origin}/login`);
      const cookie = (res.headers.getSetCookie()[0] ?? '').split(';')[0];
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await res.text())?.[1];
      if (res.status !== 200 || !cookie || !csrf) throw new Error(`GET /login answered ${res.status} without a CSRF cookie and token`);
      this.forms.push({ cookie, csrf });
    };
    for (let count = need - this.forms.length, i = 0; i < count; i += 8) await Promise.all(Array.from({ length: Math.min(8, count - i) }, one));
  }

  /** Logins at `ratePerSecond`, each as one of the first 500 users, expecting the redirect (303). */
  pace(ratePerSecond: number): Pacer {
    return startPaced({ host: this.base.hostname, port: Number(this.base.port), ratePerSecond, expectStatus: 303, next: () => this.next() });
  }

  private next(): HttpCall {
    const form = this.forms.shift();
    const body = new URLSearchParams({ _csrf: form?.csrf ?? 'none', email: this.email(1 + (this.user++ % 500)), password: this.password, return_to: '/' }).toString();
    return { method: 'POST', path: '/login', headers: { cookie: form?.cookie ?? '', 'content-type': 'application/x-www-form-urlencoded' }, body };
  }
}
