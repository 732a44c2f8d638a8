/**
 * --deny-imports: the network modules are refused when they are loaded, not only when used.
 *
 *   CommonJS (require, createRequire, require from ESM-loaded CJS)   Module._load
 *   process.getBuiltinModule                                           wrapped
 *   ESM static and dynamic import   module.registerHooks (in-thread, Node 22.15+/23.5+), else
 *                                   module.register with esm-hooks.cjs (off-thread, Node 20)
 *
 * Only this mode pays for loader hooks; the default mode has none.
 */
import { pathToFileURL } from 'node:url';
import { config, state } from './config.cjs';
import { refuse } from './blocked.cjs';

/** The modules refused at load time (also with `node:`), with the internals behind them. */
export const DENIED_MODULES: readonly string[] = [
  'net', 'tls', 'http', 'https', 'http2', 'dgram', 'dns', 'dns/promises', 'inspector', 'inspector/promises',
  '_http_agent', '_http_client', '_http_common', '_http_incoming', '_http_outgoing', '_http_server',
  '_tls_common', '_tls_wrap',
];
const DENIED = new Set(DENIED_MODULES);

function bare(id: string): string {
  return id.startsWith('node:') ? id.slice(5) : id;
}

export function isDeniedModule(id: unknown): id is string {
  return typeof id === 'string' && DENIED.has(bare(id));
}

/**
 * Where an import of `specifier` is in the module at parentURL: its file and line for the
 * record, and a stack frame (`file:///x.mjs:3:21`) for the error. An import refused while the
 * module graph is resolved has no frame of the user's on the stack (their module has not run
 * yet; on Node 20 the hook even runs on another thread), so the line is found in the source:
 * the first `from '…'`, `import('…')` or `require('…')` of it, else its first quoted mention.
 */
export function importSite(parentURL: unknown, specifier: string): { where: { file?: string; line?: number }; frame?: string } {
  if (typeof parentURL !== 'string' || parentURL === '') return { where: {} };
  let file = parentURL;
  try {
    if (parentURL.startsWith('file:')) file = (require('node:url') as typeof import('node:url')).fileURLToPath(parentURL);
  } catch {
    return { where: { file }, frame: parentURL };
  }
  try {
    const text = (require('node:fs') as typeof import('node:fs')).readFileSync(file, 'utf8');
    const q = specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const m = new RegExp(`(?:\\bfrom\\s*|\\bimport\\s*\\(?\\s*|\\brequire\\s*\\(\\s*)(['"\`])${q}\\1`).exec(text)
      ?? new RegExp(`(['"\`])${q}\\1`).exec(text);
    if (m) {
      const at = m.index + m[0].length - specifier.length - 2;
      const line = text.slice(0, at).split('\n').length;
      const column = at - text.lastIndexOf('\n', at - 1);
      return { where: { file, line }, frame: `${parentURL}:${line}:${column}` };
    }
  } catch {
    // no source to read: the file alone
  }
  return { where: { file }, frame: parentURL };
}

type AnyFn = (...args: any[]) => any;

// Captured at load: the target may replace Reflect.apply later to catch the originals passing through.
const { apply } = Reflect;

/** Node 20's loader-hooks thread loads preloads too; it must not register the hooks again. */
function inHooksThread(): boolean {
  const wt = require('node:worker_threads') as typeof import('node:worker_threads') & { isInternalThread?: boolean };
  if (wt.isMainThread) return false;
  if (typeof wt.isInternalThread === 'boolean') return wt.isInternalThread;
  return /node:internal\/modules\/esm\/(worker|hooks)/.test(new Error().stack ?? '');
}

export function installImportDenial(): void {
  if (!config.denyImports) return;
  const Module = require('node:module') as Record<string, any>;

  const origLoad = Module._load as AnyFn;
  const _load = function _load(this: unknown, request: unknown, ...rest: unknown[]) {
    if (isDeniedModule(request)) {
      const blocked = refuse('require', request, { hide: _load, reason: 'network module (--deny-imports)' });
      throw blocked; // node-do-not-add-exception-line
    }
    return apply(origLoad, this, [request, ...rest]);
  };
  Module._load = _load;

  const p = process as unknown as Record<string, unknown>;
  const getBuiltin = p.getBuiltinModule;
  if (typeof getBuiltin === 'function') {
    const getBuiltinModule = function getBuiltinModule(id: unknown) {
      if (isDeniedModule(id)) {
        const blocked = refuse('process.getBuiltinModule', id, { hide: getBuiltinModule, reason: 'network module (--deny-imports)' });
        throw blocked; // node-do-not-add-exception-line
      }
      return apply(getBuiltin as AnyFn, process, [id]);
    };
    p.getBuiltinModule = getBuiltinModule;
  }

  if (typeof Module.registerHooks === 'function') {
    const resolve = function resolve(specifier: string, context: { parentURL?: string; conditions?: string[] }, nextResolve: AnyFn): unknown {
      if (isDeniedModule(specifier) && (specifier.startsWith('node:') || Module.isBuiltin(specifier))) {
        const op = context.conditions?.includes('require') ? 'require' : 'import';
        const site = importSite(context.parentURL, specifier);
        const blocked = refuse(op, specifier, { hide: resolve, where: site.where, frame: site.frame, reason: 'network module (--deny-imports)' });
        throw blocked; // node-do-not-add-exception-line
      }
      return nextResolve(specifier, context);
    };
    Module.registerHooks({ resolve });
  } else if (typeof Module.register === 'function' && !inHooksThread()) {
    Module.register(pathToFileURL(`${__dirname}/esm-hooks.cjs`).href, {
      data: { config: state.text, denied: DENIED_MODULES },
    });
  }
}
