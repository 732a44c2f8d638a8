/**
 * os.networkInterfaces() on an offline machine returns loopback only; under worm-run the real
 * call's netlink socket is refused by the kernel and Node throws ERR_SYSTEM_ERROR, which crashes
 * libraries that ask at load time. The guard answers as the offline machine does, in Node's own
 * shape (compared with a control run on this machine's loopback), and makes no refused call.
 */
import { describe, expect, it } from 'vitest';
import { runProgram } from '../helpers/run.js';
import { NODE, dump, fixture, result, runGuarded } from './helpers.js';

const OFFLINE = {
  lo: [
    { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' },
    { address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', mac: '00:00:00:00:00:00', internal: true, cidr: '::1/128', scopeid: 0 },
  ],
};

describe('os.networkInterfaces()', () => {
  it('answers loopback only, however it is reached, in every thread', async () => {
    const out = await runGuarded(fixture('interfaces.mjs'));
    expect(out.code, dump(out)).toBe(0);
    // JSON strings: the key order is part of Node's shape.
    for (const c of ['named import', 'default import', 'require', 'a fresh object each call', 'worker']) {
      expect(result(out, c).value, c).toBe(JSON.stringify(OFFLINE));
    }
    expect(out.stderr).not.toContain('ERR_SYSTEM_ERROR');
    expect(out.guard).toEqual([]);
  });

  it("has the shape of Node's own answer for this machine's loopback", async () => {
    const control = await runProgram(NODE, [fixture('interfaces.mjs')]);
    expect(control.code, dump(control)).toBe(0);
    const line = control.stdout.split('\n').find((l) => l.includes('"case":"named import"'));
    expect(line, dump(control)).toBeDefined();
    const lo = (JSON.parse(JSON.parse(line!).value as string) as Partial<typeof OFFLINE>).lo!;
    expect(lo, 'this machine has a loopback interface').toBeDefined();
    for (const entry of lo) {
      const ours = OFFLINE.lo.find((e) => e.address === entry.address);
      if (ours) expect(JSON.stringify(ours)).toBe(JSON.stringify(entry));
    }
    expect(lo.some((e) => e.address === '127.0.0.1')).toBe(true);
  });
});
