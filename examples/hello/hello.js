// A script that runs exactly as under plain node: prints, reads its arguments, exits 0.
const who = process.argv[2] ?? 'world';
console.log(`hello, ${who}, from Node ${process.version} (pid ${process.pid})`);
