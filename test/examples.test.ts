/** Issue 6, part 4: every shipped example runs with the one command the README gives. */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, worm } from './helpers/run.js';

const ex = (p: string) => join(ROOT, 'examples', p);

describe('examples', () => {
  it('hello: runs as under plain node', async () => {
    const r = await worm([ex('hello/hello.js'), 'reader']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^hello, reader, from Node v\d+/);
  });

  it('file-processing: reads its input and writes its output', async () => {
    const out = ex('file-processing/summary.json');
    rmSync(out, { force: true });
    const r = await worm([ex('file-processing/process.js')]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(readFileSync(out, 'utf8')) as { lines: number; words: number; top: [string, number][] };
    expect(summary).toMatchObject({ lines: 3, words: 21 });
    expect(summary.top[0]).toEqual(['the', 5]);
  });

  it('network-blocked: net, fetch and curl are each refused by worm-run', async () => {
    const r = await worm([ex('network-blocked/try-network.js')]);
    expect(r.stdout).toMatch(/^net\.connect +refused: ERR_WORM_BLOCKED worm-run: network access is blocked: net\.connect to example\.com:80$/m);
    expect(r.stdout).toMatch(/^fetch +refused: ERR_WORM_BLOCKED worm-run: network access is blocked: fetch to http:\/\/example\.com\/$/m);
    expect(r.stdout).toMatch(/^curl +refused: ERR_WORM_BLOCKED /m);
    expect(r.code).toBe(0);
  });

  it('ml-job: trains under CPU and memory limits and writes predictions.json', async () => {
    const out = ex('ml-job/predictions.json');
    rmSync(out, { force: true });
    const r = await worm(['--cpu', '30s', '--memory', '512M', ex('ml-job/train.js')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^trained on 200 rows \(accuracy \d+\.\d%\), wrote 20 predictions to predictions\.json$/m);
    expect(existsSync(out)).toBe(true);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { trainAccuracy: number; predictions: { id: number; p: number }[] };
    expect(doc.trainAccuracy).toBeGreaterThan(0.9);
    expect(doc.predictions).toHaveLength(20);
  });
});
