import { IncomingMessage, Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Gives back the memory a burst of load left behind, once the server is idle.
 *
 * Under load V8 lets the heap grow well past what is live (serving login pages and the API, the
 * old space reached ~200 MB with ~50 MB live), and it does not shrink it again while the process
 * sleeps: no allocation, no collection. So after `idleSeconds` without a request, following a
 * period with some, this runs one memory-reducing collection (the one V8 runs under memory
 * pressure: it compacts the old space and returns the freed pages to the system; a plain full
 * collection leaves the fragmented pages committed): at most once per idle period, and only when
 * the heap has grown by 16 MiB since the last one (a server with sparse traffic is not collected
 * after every request). It never runs while requests arrive (health probes, `ignorePaths`, do not
 * count); a request that comes during it, or one still waiting for the database or an upstream, is
 * paused by it (up to a few hundred milliseconds on a large heap).
 *
 * The collection is asked for through an in-process inspector session
 * (HeapProfiler.collectGarbage), which needs no flag; where node has no inspector it falls back to
 * a full collection with gc exposed at run time.
 */
export interface IdleCollector {
  stop(): void;
}

const MIN_GROWTH = 16 * 1024 * 1024;
/** An inspector that has not answered by then is given up on (a full collection runs instead). */
const COLLECTION_TIMEOUT_MS = 10_000;

export interface IdleCollectorOptions {
  idleSeconds: number;
  /** Heap growth since the last collection that makes another worth it (default 16 MiB). */
  minGrowthBytes?: number;
  onCollect?: (info: { heapBefore: number; heapAfter: number; ms: number; how: 'reduce' | 'full' }) => void;
  /** The inspector refused or failed: a full collection ran instead (told the first time only; each collection tries the inspector first). */
  onFallback?: (err: unknown) => void;
  /** Requests for these paths (exactly, as the request line has them) do not count as load. */
  ignorePaths?: readonly string[];
  /** How the heap's size is read (default: the committed heap, process.memoryUsage().heapTotal). */
  heapBytes?: () => number;
}

const committedHeap = () => process.memoryUsage().heapTotal;

export function collectWhenIdle(server: Server, opts: IdleCollectorOptions): IdleCollector {
  const minGrowth = opts.minGrowthBytes ?? MIN_GROWTH;
  const heapBytes = opts.heapBytes ?? committedHeap;
  let requests = 0;
  let seenAtLastTick = 0;
  let collectedAt = 0;
  let collecting = false;
  let heapAfterLast = heapBytes();
  let fullGc: (() => void) | undefined;
  const ignored = new Set(opts.ignorePaths ?? []);
  const onRequest = (req: IncomingMessage) => {
    if (!ignored.has(req.url ?? '')) requests++;
  };
  server.on('request', onRequest);
  const collectIfUsed = async () => {
    if (collecting || requests === collectedAt) return false;
    const heapBefore = heapBytes();
    if (heapBefore < heapAfterLast + minGrowth) return false;
    collecting = true;
    collectedAt = requests;
    const started = performance.now();
    let how: 'reduce' | 'full' = 'reduce';
    try {
      await reduceMemory();
    } catch (err) {
      how = 'full';
      if (!fullGc) opts.onFallback?.(err); // the first time only: not a warning every idle period
      fullGc ??= fullCollection();
      fullGc();
    } finally {
      collecting = false;
    }
    heapAfterLast = heapBytes();
    opts.onCollect?.({ heapBefore, heapAfter: heapAfterLast, ms: performance.now() - started, how });
    return true;
  };
  // Idle = no request between two ticks `idleSeconds` apart.
  const timer = setInterval(() => {
    if (requests === seenAtLastTick) void collectIfUsed().catch(() => undefined);
    seenAtLastTick = requests;
  }, opts.idleSeconds * 1000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      server.off('request', onRequest);
    },
  };
}

/**
 * V8's memory-reducing collection, through an in-process inspector session (no port is opened).
 * Throws when there is no inspector (a node built without it, or one the permission model denies)
 * or it does not answer in time: the caller then runs a full collection.
 */
async function reduceMemory(): Promise<void> {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => reject(new Error('HeapProfiler.collectGarbage did not answer')), COLLECTION_TIMEOUT_MS);
      timeout.unref();
      // Disconnecting inside the callback of post() hangs the process: leave the callback first.
      session.post('HeapProfiler.collectGarbage', (err) =>
        setImmediate(() => {
          clearTimeout(timeout);
          if (err) reject(err);
          else resolve();
        }),
      );
    });
  } finally {
    session.disconnect();
  }
}

function fullCollection(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
