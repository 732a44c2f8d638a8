// A Node target that does nothing for a while: node sleep.js [SECONDS] (default 2).
setTimeout(() => {}, Number(process.argv[2] ?? 2) * 1000);
