#!/usr/bin/env node
/**
 * Generates cli/components.generated.ts from builder-config.yaml: the only
 * file that imports concrete components (STYLE: components never import each
 * other; one generated registry does). Run by `npm run gen` / `make build`.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

const root = path.resolve(__dirname, '..');
const manifest = YAML.parse(fs.readFileSync(path.join(root, 'builder-config.yaml'), 'utf8'));
const kinds = ['receivers', 'processors', 'exporters', 'connectors', 'extensions'];
const imports = [];
const names = [];
const problems = [];
for (const kind of kinds) {
  for (const entry of manifest[kind] || []) {
    const rel = entry && entry.path;
    if (typeof rel !== 'string') {
      problems.push(`${kind}: every entry needs a path`);
      continue;
    }
    const dir = path.resolve(root, rel);
    if (!fs.existsSync(path.join(dir, 'index.ts'))) problems.push(`${kind}: ${rel}/index.ts does not exist`);
    const name = `${kind.slice(0, -1)}_${path.basename(dir).replace(/[^A-Za-z0-9_]/g, '_')}`;
    const spec = path.relative(path.join(root, 'cli'), dir).split(path.sep).join('/');
    imports.push(`import { factory as ${name} } from '${spec.startsWith('.') ? spec : './' + spec}';`);
    names.push(name);
  }
}
if (problems.length) {
  console.error(`builder-config.yaml:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const out = `// Generated from builder-config.yaml by scripts/gen-registry.js. Do not edit.
import type { Factory } from '../pipeline/component';
${imports.join('\n')}

/** The distribution's name and version, from builder-config.yaml. */
export const dist = ${JSON.stringify({ name: manifest.dist.name, description: manifest.dist.description, version: manifest.dist.version })};

/** Every component factory this build contains. */
export const factories: Factory[] = [${names.join(', ')}];
`;
const target = path.join(root, 'cli', 'components.generated.ts');
if (!fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== out) fs.writeFileSync(target, out);
