import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createSiteServer,
  REQUEST_ID_HEADER,
  stopServer,
  waitForDrain,
} from '../../src/lib/server/node-server.ts';

/*
 * waitForDrain as a streaming route uses it (the exports): write a chunk, wait, write the
 * next. Whatever is slower than the route, the client or the compressor, must hold the
 * route back, or a large export piles up in the server's memory.
 */

/** Random hex: text a compressor can only halve, so it has real work to do. */
const CHUNK = randomBytes(128 * 1024).toString('hex');
const CHUNKS = 128;
const TOTAL = CHUNK.length * CHUNKS;

interface Progress {
  written: number;
  /** The most the route had written beyond what the client had read (decoded). */
  mostAhead: number;
  finished: Promise<void>;
}

/** What `compression` answers with: brotli for browsers, gzip for most programs. */
const ENCODINGS = ['br', 'gzip', 'identity'] as const;
type Encoding = (typeof ENCODINGS)[number];

/**
 * How far the route may run ahead: loopback socket buffers hold a few MB, and brotli's
 * window 4 MB more (9 MB seen). Unpaced, the route runs the whole 32 MB body ahead.
 */
const MB = 1024 * 1024;
const MOST_AHEAD: Record<Encoding, number> = { br: 16 * MB, gzip: 8 * MB, identity: 8 * MB };

let server: http.Server | undefined;

afterEach(async () => {
  if (server) await stopServer(server, 100);
  server = undefined;
});

/** A site front whose one route streams CHUNKS chunks, pacing itself by waitForDrain. */
async function streamingSite(received: () => number): Promise<{ url: string; progress: Progress }> {
  let finish!: () => void;
  const progress: Progress = {
    written: 0,
    mostAhead: 0,
    finished: new Promise((resolve) => (finish = resolve)),
  };
  server = createSiteServer({
    logger: pino({ level: 'silent' }),
    handler: (req, res) => {
      const requestId = req.headers[REQUEST_ID_HEADER] as string;
      void (async () => {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        for (let i = 0; i < CHUNKS && !res.destroyed; i += 1) {
          res.write(CHUNK);
          progress.written += CHUNK.length;
          progress.mostAhead = Math.max(progress.mostAhead, progress.written - received());
          await waitForDrain(requestId);
        }
        res.end();
        finish();
      })();
    },
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, progress };
}

/**
 * GET `url` over HTTP/1.0 on a socket of our own, which can stop reading (a paused
 * `http` response can be resumed by the pipe behind it); `body()` is the decoded body.
 */
function rawGet(url: string, encoding: Encoding) {
  const { hostname, port, host } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(`GET / HTTP/1.0\r\nHost: ${host}\r\nAccept-Encoding: ${encoding}\r\n\r\n`);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  return {
    socket,
    async body(): Promise<Buffer> {
      await ended;
      const whole = Buffer.concat(chunks);
      const headEnd = whole.indexOf('\r\n\r\n');
      const body = whole.subarray(headEnd + 4);
      if (encoding === 'identity') return body;
      return encoding === 'gzip' ? zlib.gunzipSync(body) : zlib.brotliDecompressSync(body);
    },
  };
}

/** GET `url`, decoding what was asked for; `counter` counts the decoded bytes. */
function get(url: string, encoding: Encoding, counter: { bytes: number }) {
  const request = http.get(url, { headers: { 'Accept-Encoding': encoding } });
  const response = new Promise<http.IncomingMessage>((resolve) => request.on('response', resolve));
  const decoded = response.then((res) => {
    expect(res.headers['content-encoding']).toBe(encoding === 'identity' ? undefined : encoding);
    const body =
      encoding === 'identity'
        ? res
        : res.pipe(encoding === 'gzip' ? zlib.createGunzip() : zlib.createBrotliDecompress());
    body.on('data', (chunk: Buffer) => (counter.bytes += chunk.length));
    return { res, body };
  });
  return { request, decoded };
}

/** The route's stream, to a client that takes the first bytes and then stops reading. */
async function stalledClient(encoding: Encoding) {
  const { url, progress } = await streamingSite(() => 0);
  const client = rawGet(url, encoding);
  await new Promise((resolve) => client.socket.once('data', resolve));
  client.socket.pause();
  return { progress, client };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(ENCODINGS)('a streamed response with %s', (encoding) => {
  it('keeps the route at most a few MB ahead of a client that reads at full speed', async () => {
    const counter = { bytes: 0 };
    const { url, progress } = await streamingSite(() => counter.bytes);
    const { decoded } = get(url, encoding, counter);
    const { body } = await decoded;
    await new Promise((resolve) => body.on('end', resolve));
    await progress.finished;
    expect(counter.bytes).toBe(TOTAL);
    expect(progress.mostAhead, `${progress.mostAhead} bytes ahead`).toBeLessThan(
      MOST_AHEAD[encoding],
    );
  });

  it('stops the route while the client reads nothing, and finishes once it reads again', async () => {
    const { progress, client } = await stalledClient(encoding);
    // What was under way settles (however busy the machine), and then nothing more is
    // written while the client waits.
    let writtenAtStall = -1;
    while (progress.written !== writtenAtStall) {
      writtenAtStall = progress.written;
      await sleep(200);
    }
    await sleep(300);
    expect(progress.written).toBe(writtenAtStall);
    expect(writtenAtStall).toBeLessThan(MOST_AHEAD[encoding]);
    client.socket.resume();
    const body = await client.body();
    await progress.finished;
    expect(body.length).toBe(TOTAL);
    expect(body.subarray(0, CHUNK.length).toString('latin1')).toBe(CHUNK);
  });

  it('lets the route go once the client has gone', async () => {
    const { progress, client } = await stalledClient(encoding);
    await sleep(100);
    client.socket.destroy();
    await progress.finished;
    expect(progress.written).toBeLessThan(TOTAL);
  });
});
