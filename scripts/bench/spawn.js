// The "Node launcher floor": a launcher that is itself a Node process and does nothing but
// spawn its argv with stdio inherited and mirror the exit status. Any Node supervisor costs
// at least this much.  Usage: node spawn.js CMD [ARGS...]
import { spawn } from 'node:child_process';

const [cmd, ...args] = process.argv.slice(2);
const child = spawn(cmd, args, { stdio: 'inherit' });
child.on('error', (e) => {
  process.stderr.write(`spawn.js: ${cmd}: ${e.message}\n`);
  process.exitCode = e.code === 'ENOENT' ? 127 : 126;
});
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exitCode = code;
});
