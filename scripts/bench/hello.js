// The smallest Node target: what every `worm-run script.js` pays before the script's own work.
console.log('hello, world');
