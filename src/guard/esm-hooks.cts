/**
 * ESM resolve hook for --deny-imports on Node lines without module.registerHooks (Node 20): runs
 * on the loader thread (module.register), which shares the process's descriptors, so it reports
 * to the supervisor itself.
 */
import { setConfig } from './config.cjs';
import { refuse } from './blocked.cjs';
import { importSite } from './imports.cjs';

let denied = new Set<string>();

export function initialize(data: { config?: string; denied?: string[] } | undefined): void {
  setConfig(data?.config);
  denied = new Set(data?.denied ?? []);
}

type NextResolve = (specifier: string, context: unknown) => unknown;

export async function resolve(specifier: string, context: { parentURL?: string }, nextResolve: NextResolve): Promise<unknown> {
  const bare = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
  if (denied.has(bare)) {
    const site = importSite(context.parentURL, specifier);
    const blocked = refuse('import', specifier, { where: site.where, frame: site.frame, reason: 'network module (--deny-imports)' });
    throw blocked; // node-do-not-add-exception-line
  }
  return nextResolve(specifier, context);
}
