/**
 * Where the shared conformance captures are (tests and benchmarks only):
 * `$MF_CONFORMANCE_DIR` (the `conformance` folder itself) when set, else
 * `../shared/conformance` beside the repository, the project's layout.
 * When neither exists this throws, naming both places, so a test fails with
 * the reason instead of an ENOENT on one capture.
 */
import fs from 'node:fs';
import path from 'node:path';

const BESIDE = path.resolve(__dirname, '../../../shared/conformance');

/** The conformance root: see the module doc. */
export function conformanceRoot(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.MF_CONFORMANCE_DIR;
  const root = fromEnv ? path.resolve(fromEnv) : BESIDE;
  if (!fs.existsSync(root)) {
    throw new Error(
      `conformance captures not found at ${root} (${fromEnv ? 'MF_CONFORMANCE_DIR' : 'the shared/ folder beside the repository'}); clone the repository next to shared/ or set MF_CONFORMANCE_DIR to the conformance folder`,
    );
  }
  return root;
}

/** A path under the conformance root, e.g. `conformancePath('deepflow/flow_generator/http')`. */
export function conformancePath(rel: string): string {
  return path.join(conformanceRoot(), rel);
}
