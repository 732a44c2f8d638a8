/**
 * A loopback listener that records whatever reaches it: TCP connections (and their first
 * bytes) and UDP datagrams on 127.0.0.1. It is the ground truth of the network tests: a case
 * "got through" exactly when the recorder saw something.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';

export interface RecordedEvent {
  proto: 'tcp' | 'udp';
  data: string;
}

export interface Recorder {
  port: number;
  udpPort: number;
  events: RecordedEvent[];
  /** Waits briefly for stragglers, then tells whether anything arrived. */
  settle(ms?: number): Promise<RecordedEvent[]>;
  reset(): void;
  close(): Promise<void>;
}

export async function startRecorder(): Promise<Recorder> {
  const events: RecordedEvent[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    const ev: RecordedEvent = { proto: 'tcp', data: '' };
    events.push(ev);
    s.on('data', (d) => {
      ev.data += d.toString('latin1');
      s.end('HTTP/1.0 200 OK\r\ncontent-length: 8\r\n\r\nRECORDED');
    });
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.setTimeout(2000, () => s.destroy());
  });
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
