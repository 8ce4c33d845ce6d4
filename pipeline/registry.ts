/**
 * The set of component factories a build contains. The distribution's list is
 * generated from `builder-config.yaml` (`cli/components.generated.ts`); tests
 * build registries of their own.
 */
import { KINDS, type Factory, type Kind } from './component';

/** Factories by kind and type, with the Collector's alternative type names. */
export class Registry {
  private readonly byKind = new Map<Kind, Map<string, Factory>>();

  constructor(factories: readonly Factory[]) {
    for (const k of KINDS) this.byKind.set(k, new Map());
    for (const f of factories) {
      const map = this.byKind.get(f.kind) as Map<string, Factory>;
      for (const name of [f.type, ...(f.aliases ?? [])]) {
        if (map.has(name)) throw new Error(`two ${f.kind} factories claim the type "${name}"`);
        map.set(name, f);
      }
    }
  }

  /** The factory of `kind` for `type` (or one of its aliases). */
  get(kind: Kind, type: string): Factory | undefined {
    return this.byKind.get(kind)?.get(type);
  }

  /** The primary type names of a kind, sorted. */
  types(kind: Kind): string[] {
    return this.factories(kind).map((f) => f.type);
  }

  /** The factories of a kind, sorted by type. */
  factories(kind: Kind): Factory[] {
    const seen = new Set<Factory>(this.byKind.get(kind)?.values());
    return [...seen].sort((a, b) => a.type.localeCompare(b.type));
  }
}
