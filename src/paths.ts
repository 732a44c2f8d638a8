/**
 * worm-run's own files. Kept in a module at the top of dist/ so that the bundled CLI
 * (dist/worm-run.cjs) and the library (dist/*.js) resolve them the same way.
 */
import { fileURLToPath } from 'node:url';

/** The guard, preloaded into every Node process of a run through NODE_OPTIONS. */
export const GUARD_PRELOAD = fileURLToPath(new URL('./guard/preload.cjs', import.meta.url));

/** The package's root directory. */
export const INSTALL_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * What a later run executes from the installation: kept read-only for the target even when
 * it sits in a directory the target may write (a checkout used as the working directory).
 */
export const INSTALL_CODE = ['dist', 'bin', 'build', 'prebuilds', 'node_modules', 'package.json'].map((p) => `${INSTALL_ROOT}${p}`);
