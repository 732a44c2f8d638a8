// A small offline "training" job: reads data/train.csv and data/test.csv, fits a logistic
// regression by gradient descent, writes predictions.json. Run it under budgets:
//   worm-run --cpu 30s --memory 512M examples/ml-job/train.js
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const load = (file) => readFileSync(here(file), 'utf8').trim().split('\n').slice(1)
  .map((line) => line.split(',').map(Number));

const train = load('./data/train.csv'); // x1,x2,label
const test = load('./data/test.csv');   // id,x1,x2
const sigmoid = (z) => 1 / (1 + Math.exp(-z));
let w = [0, 0, 0];
for (let epoch = 0; epoch < 2000; epoch++) {
  const grad = [0, 0, 0];
  for (const [x1, x2, y] of train) {
    const err = sigmoid(w[0] + w[1] * x1 + w[2] * x2) - y;
    grad[0] += err; grad[1] += err * x1; grad[2] += err * x2;
  }
  w = w.map((wi, i) => wi - (0.5 * grad[i]) / train.length);
}
const accuracy = train.filter(([x1, x2, y]) => (sigmoid(w[0] + w[1] * x1 + w[2] * x2) > 0.5 ? 1 : 0) === y).length / train.length;
const predictions = test.map(([id, x1, x2]) => ({ id, p: Number(sigmoid(w[0] + w[1] * x1 + w[2] * x2).toFixed(4)) }));
writeFileSync(here('./predictions.json'), `${JSON.stringify({ weights: w.map((x) => Number(x.toFixed(4))), trainAccuracy: accuracy, predictions }, null, 2)}\n`);
console.log(`trained on ${train.length} rows (accuracy ${(accuracy * 100).toFixed(1)}%), wrote ${predictions.length} predictions to predictions.json`);
