import { Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Gives back the memory a burst of load left behind, once the server is idle.
 *
 * Under load V8 lets the heap grow well past what is live (serving login pages, the old space
 * reached ~150 MB with ~40 MB live), and it does not shrink it again while the process sleeps:
 * no allocation, no collection. So after `idleSeconds` without a request, following a period with
 * some, this runs one full collection, which returns the unused pages to the system: at most once
 * per idle period, and only when the heap has grown by 16 MiB since the last one (a server with
 * sparse traffic is not collected after every request). It never runs while requests arrive; a
 * request that comes during it waits for one collection (tens of milliseconds).
 *
 * V8 only offers a full collection to JavaScript with --expose-gc; it is set here, at run time,
 * for this process only (a fresh context then has `gc`), so `node dist/src/main.js` needs no flag.
 */
export interface IdleCollector {
  /** Runs the collection now if requests came and the heap grew since the last one. */
  collectIfUsed(): boolean;
  stop(): void;
}

const MIN_GROWTH = 16 * 1024 * 1024;

export function collectWhenIdle(server: Server, opts: { idleSeconds: number; onCollect?: (info: { heapBefore: number; heapAfter: number; ms: number }) => void }): IdleCollector {
  const gc = fullCollection();
  let requests = 0;
  let seenAtLastTick = 0;
  let collectedAt = 0;
  let heapAfterLast = process.memoryUsage().heapTotal;
  const onRequest = () => {
    requests++;
  };
  server.on('request', onRequest);
  const collectIfUsed = () => {
    if (requests === collectedAt) return false;
    const heapBefore = process.memoryUsage().heapTotal;
    if (heapBefore < heapAfterLast + MIN_GROWTH) return false;
    collectedAt = requests;
    const started = performance.now();
    gc();
    heapAfterLast = process.memoryUsage().heapTotal;
    opts.onCollect?.({ heapBefore, heapAfter: heapAfterLast, ms: performance.now() - started });
    return true;
  };
  // Idle = no request between two ticks `idleSeconds` apart.
  const timer = setInterval(() => {
    if (requests === seenAtLastTick) collectIfUsed();
    seenAtLastTick = requests;
  }, opts.idleSeconds * 1000);
  timer.unref();
  return {
    collectIfUsed,
    stop() {
      clearInterval(timer);
      server.off('request', onRequest);
    },
  };
}

function fullCollection(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
