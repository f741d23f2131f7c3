import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { collectWhenIdle } from '../../src/lib/idle-gc';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const waitFor = async (ok: () => boolean, ms = 5000) => {
  for (const until = Date.now() + ms; !ok() && Date.now() < until; ) await sleep(20);
};

describe('idle garbage collection', () => {
  let server: Server;
  let url: string;
  beforeEach(async () => {
    server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('when requests stop for the idle period, then one collection runs, and none again until requests come back with a grown heap', async () => {
    const MiB = 1024 * 1024;
    let heap = 100 * MiB; // the heap's size as the collector reads it, moved by the test
    const collections: Array<{ how: string }> = [];
    const idle = collectWhenIdle(server, { idleSeconds: 0.1, heapBytes: () => heap, onCollect: (c) => collections.push(c) });
    try {
      heap += 20 * MiB;
      await sleep(350);
      expect(collections).toHaveLength(0); // never served anything: nothing to give back

      for (let i = 0; i < 3; i++) expect((await fetch(url)).status).toBe(200);
      await waitFor(() => collections.length > 0);
      expect(collections).toHaveLength(1);
      expect(collections[0]).toMatchObject({ how: 'reduce' }); // V8's memory-reducing collection, through the inspector

      await sleep(350);
      expect(collections).toHaveLength(1); // still idle: once per idle period

      await fetch(url);
      await sleep(350);
      expect(collections).toHaveLength(1); // a request, but the heap has not grown: nothing to give back

      heap += 10 * MiB;
      await fetch(url);
      await sleep(350);
      expect(collections).toHaveLength(1); // grown, but by less than 16 MiB: not worth a collection

      heap += 10 * MiB;
      await fetch(url);
      await waitFor(() => collections.length > 1);
      expect(collections).toHaveLength(2);
    } finally {
      idle.stop();
    }
  });

  it('when the burst left garbage behind, then the collection gives its memory back', async () => {
    // Garbage the way a burst of requests leaves it: big and short-lived. It stays reachable until
    // the collector has read the heap's size, so V8 cannot collect it on its own first (which made
    // this test depend on V8's timing).
    let junk: unknown[] | undefined;
    const heapBytes = () => {
      const size = process.memoryUsage().heapTotal;
      junk = undefined;
      return size;
    };
    const collections: Array<{ heapBefore: number; heapAfter: number }> = [];
    const idle = collectWhenIdle(server, { idleSeconds: 0.1, minGrowthBytes: 0, heapBytes, onCollect: (c) => collections.push(c) });
    try {
      junk = Array.from({ length: 200 }, () => new Array(20_000).fill({ a: 1 })); // ~32 MB
      expect(junk.length).toBe(200);
      expect((await fetch(url)).status).toBe(200);
      await waitFor(() => collections.length > 0);
      expect(collections).toHaveLength(1);
      expect(collections[0].heapBefore - collections[0].heapAfter).toBeGreaterThan(16 * 1024 * 1024);
    } finally {
      idle.stop();
    }
  });

  it('when requests keep arriving, then it does not collect in between', async () => {
    const collections: unknown[] = [];
    // A heap the test holds still and no growth needed: only the requests keep it from collecting.
    const idle = collectWhenIdle(server, { idleSeconds: 1, minGrowthBytes: 0, heapBytes: () => 0, onCollect: (c) => collections.push(c) });
    try {
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        await fetch(url);
        await sleep(20);
      }
      expect(collections).toHaveLength(0);
      await waitFor(() => collections.length > 0); // and once they stop, it does
      expect(collections).toHaveLength(1);
    } finally {
      idle.stop();
    }
  });

  it('when only health probes keep arriving, then the server counts as idle and collects', async () => {
    const collections: unknown[] = [];
    const idle = collectWhenIdle(server, { idleSeconds: 0.3, minGrowthBytes: 0, heapBytes: () => 0, ignorePaths: ['/healthz', '/readyz'], onCollect: (c) => collections.push(c) });
    try {
      expect((await fetch(url)).status).toBe(200); // load before: something to give back
      const until = Date.now() + 2000;
      while (Date.now() < until && collections.length === 0) {
        await fetch(`${url}healthz`);
        await fetch(`${url}readyz`);
        await sleep(20);
      }
      expect(collections).toHaveLength(1);
    } finally {
      idle.stop();
    }
  });
});
