/**
 * The L7 protocol benchmark: for every protocol of PROTOCOLS, our parser's
 * sessions/s and MB/s on one core against tshark extracting the same
 * protocol's key fields from the same capture, in the same run. Aim (the L7
 * parsers issue): at least 20 times tshark for every protocol.
 *
 * Run: `npm run build && node dist/bench/protocols.js [secondsPerWorkload] [protocol,…]`
 * - secondsPerWorkload: wall seconds of the timed loop per workload
 *   (default 3); the whole run takes about 3 minutes plus that times the
 *   28 workloads, most of the rest being tshark.
 * - protocol,…: only these protocols, by `l7_protocol` name, any case
 *   (`HTTP,HTTP2`, `mysql`); default all.
 * - MF_BENCH_KEEP=1 keeps the synthetic captures; MF_CONFORMANCE_DIR points
 *   at another copy of DeepFlow's flow_generator captures.
 *
 * Per protocol, two workloads (see the group files for what they hold):
 * (a) its DeepFlow conformance captures (none exist for TLS), and (b) a
 * synthetic capture large enough for a steady-state figure. The group files
 * `protocols-{http,sql,kv,mq}.ts` only define these workloads, and
 * `bench/lib/protocol-bench.ts` measures them (how, and what each column
 * means, is documented there). The group files have no main of their own:
 * `make bench` runs every file of dist/bench, so they would measure every
 * protocol a second time; the protocol filter here runs one group instead.
 *
 * The figure to judge the aim by is the synthetic workload's CPU ratio with
 * tshark's start-up subtracted: on the conformance captures (a few KB each)
 * tshark's time is almost all start-up.
 */
import { PROTOCOLS } from '../protocols';
import { runProtocolBench, type ProtocolWorkload } from './lib/protocol-bench';
import { httpWorkloads } from './protocols-http';
import { kvWorkloads } from './protocols-kv';
import { mqWorkloads } from './protocols-mq';
import { sqlWorkloads } from './protocols-sql';

const USAGE = 'usage: node dist/bench/protocols.js [secondsPerWorkload] [protocol,…]';

/** Every workload of the group files, in PROTOCOLS order, filtered by `only` (lower-case names). */
function selectWorkloads(only: Set<string> | undefined): { workloads: ProtocolWorkload[]; uncovered: string[] } {
  const all = [...httpWorkloads, ...sqlWorkloads, ...kvWorkloads, ...mqWorkloads];
  const workloads: ProtocolWorkload[] = [];
  const uncovered: string[] = [];
  for (const spec of PROTOCOLS) {
    if (only && !only.has(spec.name.toLowerCase())) continue;
    const mine = all.filter((w) => w.spec === spec);
    if (mine.length === 0) uncovered.push(spec.name);
    workloads.push(...mine);
  }
  return { workloads, uncovered };
}

function main(): void {
  const seconds = process.argv[2] === undefined ? 3 : Number(process.argv[2]);
  if (!(seconds > 0)) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const only = process.argv[3] ? new Set(process.argv[3].split(',').map((p) => p.trim().toLowerCase())) : undefined;
  if (only) {
    const known = new Set(PROTOCOLS.map((s) => s.name.toLowerCase()));
    const unknown = [...only].filter((p) => !known.has(p));
    if (unknown.length > 0) {
      console.error(`unknown protocol(s): ${unknown.join(', ')}; known: ${PROTOCOLS.map((s) => s.name).join(', ')}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
  }
  const { workloads, uncovered } = selectWorkloads(only);
  const rows = runProtocolBench(workloads, { seconds });
  // A protocol added to PROTOCOLS without a workload should not go unnoticed.
  if (uncovered.length > 0) console.log(`No workload defined for: ${uncovered.join(', ')}.`);
  if (uncovered.length > 0 || rows.some((r) => r.error)) process.exitCode = 1;
}

main();
