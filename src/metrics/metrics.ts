import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric the server exports, on a Registry made by the composition root (no module-level
 * registry: each process, and each test's app, has its own). Counters and histograms are
 * incremented in memory on the request paths; everything read from elsewhere (pool, caches,
 * hashing queue) is read only when scraped. Label values come from fixed sets (matched route
 * patterns, grant types, RFC error codes, rule names), never from what a request sent.
 */

/** Around Alexa's 4.5 s budget for a token answer (alexa.md), with the usual fast range below. */
export const TOKEN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 4.5, 5, 10];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * prom-client 15.1.3's default metrics include three gauges whose names end in `_total`, which
 * promtool (2.42) rejects as a gauge named like a counter; their per-type gauges
 * (nodejs_active_handles, ...) carry the same numbers.
 */
const DEFAULT_METRICS_LEFT_OUT = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export const FUNNEL_STEPS = [
  'authorize_request',
  'authorize_invalid',
  'sign_in_succeeded',
  'sign_in_failed',
  'consent_allowed',
  'consent_denied',
  'code_issued',
  'code_redeemed',
] as const;
export type FunnelStep = (typeof FUNNEL_STEPS)[number];

/** Counts that live elsewhere (plain numbers there, so the hot path pays nothing), read at scrape time. */
export interface MetricSources {
  pool?: () => { used: number; free: number; pendingAcquires: number; pendingCreates: number; max: number };
  caches?: () => Array<{ cache: string; entries: number; hits: number; misses: number; off: number }>;
  hashing?: () => Array<{ lane: string; active: number; waiting: number; busy: number }>;
  linkEvents?: () => { buffered: number; written: number; dropped: number };
}

export function createMetrics(opts: { defaultMetrics: boolean }) {
  const registry = new Registry();
  if (opts.defaultMetrics) {
    collectDefaultMetrics({ register: registry });
    for (const name of DEFAULT_METRICS_LEFT_OUT) registry.removeSingleMetric(name);
  }
  const sources: MetricSources = {};

  const httpDuration = new Histogram({
    name: 'linkbridge_http_request_duration_seconds',
    help: 'HTTP requests by matched route pattern, method and status: duration (the _count is the request rate).',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });

  // endpoint: "oauth" (POST /oauth/token) or "bridge" (POST /bridge/<name>/token; never the name).
  const tokenRequests = new Counter({
    name: 'linkbridge_oauth_token_requests_total',
    help: 'Token endpoint answers (endpoint: oauth or bridge) by grant type and outcome (issued or the RFC 6749 error code); reason: the grant rule that refused an invalid_grant.',
    labelNames: ['endpoint', 'grant_type', 'outcome', 'reason'] as const,
    registers: [registry],
  });
  const tokenDuration = new Histogram({
    name: 'linkbridge_oauth_token_duration_seconds',
    help: "Time to answer a token request (endpoint: oauth or bridge) by grant type; Alexa gives up after 4.5 s (bucket le=\"4.5\").",
    labelNames: ['endpoint', 'grant_type'] as const,
    buckets: TOKEN_BUCKETS,
    registers: [registry],
  });
  const refreshUnlinked = new Counter({
    name: 'linkbridge_oauth_refresh_unlinked_total',
    help: 'Refreshes answered invalid_grant (endpoint: oauth or bridge), after which Alexa unlinks the user, by the rule that refused.',
    labelNames: ['endpoint', 'reason'] as const,
    registers: [registry],
  });
  const funnel = new Counter({
    name: 'linkbridge_linking_funnel_total',
    help: 'The linking funnel: authorization requests (valid and invalid), sign-ins, consent decisions, codes issued and redeemed.',
    labelNames: ['step'] as const,
    registers: [registry],
  });
  const revocations = new Counter({
    name: 'linkbridge_revocations_total',
    help: 'Links revoked, by who ended them.',
    labelNames: ['by'] as const,
    registers: [registry],
  });
  const skillEvents = new Counter({
    name: 'linkbridge_alexa_skill_events_total',
    help: 'Alexa skill events received, by type (known types; other) and what was done.',
    labelNames: ['type', 'status'] as const,
    registers: [registry],
  });
  for (const step of FUNNEL_STEPS) funnel.inc({ step }, 0); // every step shows, even at zero

  const listenerUp = new Gauge({
    name: 'linkbridge_revocation_listener_up',
    help: '1 while this process listens for revocations (validated tokens are cached), 0 otherwise.',
    registers: [registry],
  });
  const listenerLost = new Counter({
    name: 'linkbridge_revocation_listener_lost_total',
    help: 'Times the revocation listener lost its connection (caching off until it reconnects).',
    registers: [registry],
  });
  let listening = false;
  listenerUp.set(0);
  const revocationNotices = new Counter({
    name: 'linkbridge_revocation_notifications_total',
    help: 'Revocation notifications this process applied to its caches.',
    registers: [registry],
  });

  new Gauge({
    name: 'linkbridge_db_pool_connections',
    help: 'Database pool connections by state: used, free, pending (acquires waiting for a connection).',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const p = sources.pool?.();
      if (!p) return;
      this.set({ state: 'used' }, p.used);
      this.set({ state: 'free' }, p.free);
      this.set({ state: 'pending' }, p.pendingAcquires + p.pendingCreates);
    },
  });
  new Gauge({
    name: 'linkbridge_db_pool_max_connections',
    help: 'The pool size (DB_POOL_MAX).',
    registers: [registry],
    collect() {
      const p = sources.pool?.();
      if (p) this.set(p.max);
    },
  });

  monotonic(registry, {
    name: 'linkbridge_cache_lookups_total',
    help: 'In-process cache look-ups by cache (access_token, client) and result: hit, miss, or off (caching off: no revocation listener).',
    labelNames: ['cache', 'result'],
    read: () => (sources.caches?.() ?? []).flatMap((c) => [
      { labels: { cache: c.cache, result: 'hit' }, value: c.hits },
      { labels: { cache: c.cache, result: 'miss' }, value: c.misses },
      { labels: { cache: c.cache, result: 'off' }, value: c.off },
    ]),
  });
  new Gauge({
    name: 'linkbridge_cache_entries',
    help: 'Entries in each in-process cache.',
    labelNames: ['cache'] as const,
    registers: [registry],
    collect() {
      for (const c of sources.caches?.() ?? []) this.set({ cache: c.cache }, c.entries);
    },
  });

  new Gauge({
    name: 'linkbridge_password_hash_in_flight',
    help: 'Password hashes running, by lane (login, signup).',
    labelNames: ['lane'] as const,
    registers: [registry],
    collect() {
      for (const l of sources.hashing?.() ?? []) this.set({ lane: l.lane }, l.active);
    },
  });
  new Gauge({
    name: 'linkbridge_password_hash_queued',
    help: 'Password hashes waiting for a slot, by lane.',
    labelNames: ['lane'] as const,
    registers: [registry],
    collect() {
      for (const l of sources.hashing?.() ?? []) this.set({ lane: l.lane }, l.waiting);
    },
  });
  monotonic(registry, {
    name: 'linkbridge_password_hash_busy_total',
    help: 'Sign-ins and sign-ups answered "busy, try again" because the lane\'s queue was full.',
    labelNames: ['lane'],
    read: () => (sources.hashing?.() ?? []).map((l) => ({ labels: { lane: l.lane }, value: l.busy })),
  });

  new Gauge({
    name: 'linkbridge_link_events_buffered',
    help: 'Link timeline events waiting in memory for the next batch insert.',
    registers: [registry],
    collect() {
      const e = sources.linkEvents?.();
      if (e) this.set(e.buffered);
    },
  });
  monotonic(registry, {
    name: 'linkbridge_link_events_written_total',
    help: 'Link timeline events written in batches.',
    labelNames: [],
    read: () => {
      const e = sources.linkEvents?.();
      return e ? [{ labels: {}, value: e.written }] : [];
    },
  });
  monotonic(registry, {
    name: 'linkbridge_link_events_dropped_total',
    help: 'Link timeline events dropped because the buffer was full (the database was unreachable for long).',
    labelNames: [],
    read: () => {
      const e = sources.linkEvents?.();
      return e ? [{ labels: {}, value: e.dropped }] : [];
    },
  });

  return {
    registry,
    /** Where the scrape-time numbers come from; set by the composition root. */
    sources,
    httpDuration,
    token: { requests: tokenRequests, duration: tokenDuration, refreshUnlinked },
    funnel: (step: FunnelStep) => funnel.inc({ step }),
    revoked: (by: string, n = 1) => {
      if (n > 0) revocations.inc({ by }, n);
    },
    skillEvent: (type: string, status: string) => skillEvents.inc({ type, status }),
    /** A RevocationBus listener: the listener's state and the notifications it applies. */
    revocationListener: {
      onRevocation: () => revocationNotices.inc(),
      onListening: (now: boolean) => {
        if (listening && !now) listenerLost.inc();
        listening = now;
        listenerUp.set(now ? 1 : 0);
      },
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A counter whose value is kept elsewhere as a plain, ever-growing number (a field the hot path
 * increments) and read at scrape time.
 */
function monotonic(
  registry: Registry,
  spec: { name: string; help: string; labelNames: string[]; read: () => Array<{ labels: Record<string, string>; value: number }> },
): Counter<string> {
  return new Counter({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, value } of spec.read()) this.inc(labels, value);
    },
  });
}
