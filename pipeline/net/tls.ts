/**
 * TLS settings shared by servers and clients, with the Collector's
 * `configtls` keys: `cert_file`, `key_file`, `ca_file`, `client_ca_file`,
 * `insecure` (clients: plaintext), `insecure_skip_verify`, `min_version`,
 * `server_name_override`.
 */
import fs from 'node:fs';
import { s, type Infer } from '../config/schema';

/** `tls` of a server (receiver). */
export const serverTlsSchema = s.object({
  cert_file: s.string().nonEmpty(),
  key_file: s.string().nonEmpty(),
  client_ca_file: s.optional(s.string()).doc('require client certificates signed by this CA'),
  ca_file: s.optional(s.string()),
  min_version: s.enum(['1.2', '1.3'] as const).default('1.2'),
});

/** `tls` of a client (exporter). */
export const clientTlsSchema = s
  .object({
    insecure: s.boolean().default(false).doc('plaintext (no TLS) for gRPC'),
    insecure_skip_verify: s.boolean().default(false),
    ca_file: s.optional(s.string()),
    cert_file: s.optional(s.string()),
    key_file: s.optional(s.string()),
    server_name_override: s.optional(s.string()),
    min_version: s.enum(['1.2', '1.3'] as const).default('1.2'),
  })
  .withDefaults();

/** Parsed server TLS settings. */
export type ServerTls = Infer<typeof serverTlsSchema>;
/** Parsed client TLS settings. */
export type ClientTls = Infer<typeof clientTlsSchema>;

/** Reads a TLS file, naming the setting in the error. */
export function readTlsFile(setting: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`tls::${setting}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
