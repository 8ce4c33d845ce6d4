#!/usr/bin/env node
/**
 * The `metaflow` command line. The only place that exits the process.
 */
import { components, parseArgs, query, run, USAGE, validate, type Output } from './commands';
import { dist } from './components.generated';
import { replayCommand } from './replay';

const io: Output = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.flags.version || args.command === 'version') {
    io.out(`${dist.name} ${dist.version}\n`);
    return 0;
  }
  if (args.flags.help || !args.command || args.command === 'help') {
    io.out(USAGE);
    return args.command || args.flags.help ? 0 : 2;
  }
  switch (args.command) {
    case 'start':
    case 'server':
    case 'agent':
      return run(args, io);
    case 'validate':
      return validate(args, io);
    case 'components':
      return components(io, args.flags.markdown === true);
    case 'query':
      return query(args, io);
    case 'replay':
      return replayCommand(args, { ...io, isTTY: process.stderr.isTTY === true });
    default:
      io.err(`metaflow: unknown command "${args.command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`metaflow: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
