// Reads a text file, writes a summary next to it. Under worm-run it may read what it likes except
// credential stores, and write only in the working directory and its private TMPDIR: run it from
// the directory that holds the output (or add --write DIR).
//   worm-run examples/file-processing/process.js [input] [output]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const input = process.argv[2] ?? here('./input.txt');
const output = process.argv[3] ?? here('./summary.json');

const text = readFileSync(input, 'utf8');
const words = text.toLowerCase().match(/[a-z']+/g) ?? [];
const counts = new Map();
for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
const top = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 5);
const summary = { input, lines: text.split('\n').filter(Boolean).length, words: words.length, top };
writeFileSync(output, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`wrote ${output}: ${summary.lines} lines, ${summary.words} words`);
