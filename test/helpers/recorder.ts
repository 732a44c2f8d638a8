/**
 * A loopback listener that records whatever reaches it: TCP connections (and their first
 * bytes) and UDP datagrams on 127.0.0.1. It is the ground truth of the network tests: a case
 * "got through" exactly when the recorder saw something. A TCP connection counts as an event
 * as soon as it is accepted, even if it never sends a byte.
 *
 * startUnixRecorder() does the same for a Unix stream socket, by path or in the abstract
 * namespace (for the --allow-unix cases).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { chmodSync, rmSync } from 'node:fs';
import { Socket, createServer, type Server } from 'node:net';
import { join } from 'node:path';

export interface RecordedEvent {
  proto: 'tcp' | 'udp' | 'unix';
  data: string;
}

export interface Recorder {
  port: number;
  udpPort: number;
  events: RecordedEvent[];
  /** Waits briefly for stragglers, then tells whether anything arrived. */
  settle(ms?: number): Promise<RecordedEvent[]>;
  /** Waits until an event's data contains `text` (or any event, without text); false on timeout. */
  waitFor(text?: string, timeoutMs?: number): Promise<boolean>;
  reset(): void;
  close(): Promise<void>;
}

function waiter(events: RecordedEvent[]) {
  return async (text?: string, timeoutMs = 5000): Promise<boolean> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (events.some((e) => text === undefined || e.data.includes(text))) return true;
      if (Date.now() >= end) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
}

function recordStream(events: RecordedEvent[], sockets: Set<Socket>, proto: 'tcp' | 'unix', reply: string) {
  return (s: Socket) => {
    sockets.add(s);
    const ev: RecordedEvent = { proto, data: '' };
    events.push(ev);
    s.on('data', (d) => {
      ev.data += d.toString('latin1');
      if (reply) s.end(reply);
    });
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.setTimeout(2000, () => s.destroy());
  };
}

export async function startRecorder(): Promise<Recorder> {
  const events: RecordedEvent[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer(
    recordStream(events, sockets, 'tcp', 'HTTP/1.0 200 OK\r\ncontent-length: 8\r\n\r\nRECORDED'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    events.push({ proto: 'udp', data: msg.toString('latin1') });
    udp.send('RECORDED', rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const udpPort = udp.address().port;
  return {
    port,
    udpPort,
    events,
    async settle(ms = 200) {
      await new Promise((r) => setTimeout(r, ms));
      return [...events];
    },
    waitFor: waiter(events),
    reset() {
      events.length = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    },
  };
}

export interface UnixRecorder {
  /** The filesystem path, or the abstract name (without the leading NUL). */
  address: string;
  abstract: boolean;
  events: RecordedEvent[];
  settle(ms?: number): Promise<RecordedEvent[]>;
  waitFor(text?: string, timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

let unixCount = 0;

/** A Unix stream listener: at a path in `dir`, or (abstract) under a unique abstract name. */
export async function startUnixRecorder(opts: { dir?: string; abstract?: boolean } = {}): Promise<UnixRecorder> {
  const events: RecordedEvent[] = [];
  const sockets = new Set<Socket>();
  const name = `worm-run-rec-${process.pid}-${++unixCount}`;
  const abstract = opts.abstract === true;
  const address = abstract ? name : join(opts.dir ?? '/tmp', `${name}.sock`);
  const server = createServer(recordStream(events, sockets, 'unix', 'RECORDED'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(abstract ? `\0${address}` : address, resolve);
  });
  // Anyone may connect (a target run as another user, e.g. through WORM_TEST_WRAPPER).
  if (!abstract) chmodSync(address, 0o777);
  return {
    address,
    abstract,
    events,
    async settle(ms = 200) {
      await new Promise((r) => setTimeout(r, ms));
      return [...events];
    },
    waitFor: waiter(events),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!abstract) rmSync(address, { force: true });
    },
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Tries a TCP connection to 127.0.0.1:port; resolves 'connected' or the error code. */
export function probeTcp(port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = new Socket();
    const t = setTimeout(() => {
      s.destroy();
      resolve('ETIMEDOUT');
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.end();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(e.code ?? 'error');
    });
    s.connect(port, '127.0.0.1');
  });
}
