/**
 * tshark (Debian's Wireshark CLI) as the independent reference dissector:
 * the fields it extracts from a capture are what our parsers must agree with.
 */
import { execFile, spawnSync } from 'node:child_process';

/** Whether tshark is installed. */
export function tsharkAvailable(): boolean {
  return spawnSync('tshark', ['-v'], { stdio: 'ignore' }).status === 0;
}

/** Options of {@link tsharkFields}. */
export interface TsharkOptions {
  /** A display filter (`-Y`), e.g. `http.request || http.response`. */
  filter?: string;
  /** Decode-as rules (`-d`), e.g. `tcp.port==6380,redis`. */
  decodeAs?: string[];
  /** Two-pass analysis (`-2`), needed for some reassembled fields. */
  twoPass?: boolean;
  /** Protocol preferences (`-o`), e.g. `tcp.desegment_tcp_streams:TRUE`. */
  prefs?: string[];
}

/**
 * One record per frame tshark shows, with every occurrence of each requested
 * field (a field may occur several times in a frame, e.g. pipelined requests).
 * `frame.number` is always included as `frame`.
 */
export function tsharkFields(pcap: string, fields: string[], opts: TsharkOptions = {}): Promise<Array<Record<string, string[]>>> {
  const SEP = '\u001f';
  const AGG = '\u001e';
  const args = ['-r', pcap, '-n', '-T', 'fields', '-E', `separator=${SEP}`, '-E', 'occurrence=a', '-E', `aggregator=${AGG}`, '-e', 'frame.number'];
  for (const f of fields) args.push('-e', f);
  if (opts.filter) args.push('-Y', opts.filter);
  for (const d of opts.decodeAs ?? []) args.push('-d', d);
  for (const p of opts.prefs ?? []) args.push('-o', p);
  if (opts.twoPass) args.push('-2');
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`tshark failed: ${stderr || err.message}`));
      const out: Array<Record<string, string[]>> = [];
      for (const line of stdout.split('\n')) {
        if (!line) continue;
        const cols = line.split(SEP);
        const rec: Record<string, string[]> = { frame: [cols[0]] };
        fields.forEach((f, i) => {
          const v = cols[i + 1] ?? '';
          rec[f] = v === '' ? [] : v.split(AGG);
        });
        out.push(rec);
      }
      resolve(out);
    });
  });
}
