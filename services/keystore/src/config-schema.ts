// Every key the keystore config may hold (config.ts documents them and applies
// the defaults). Strict objects throughout, so a misspelt key is refused with
// its path and the file rather than silently defaulted (issue 17 §7); the
// formats and ranges are config.ts's, checked here first so that every
// message names the file.
import { configString, logLevelSchema, tlsFilesSchema, z } from '@fle/service-kit';

/** config.ts's `host:port`. */
const listenSchema = configString().refine(
  (s) => {
    const m = /^([^\s]+):(\d{1,5})$/.exec(s);
    return m !== null && Number(m[2]) <= 65535;
  },
  { error: 'must be host:port' },
);
const CHECK_INTERVAL = { error: 'must be a whole number of milliseconds from 100 to 86400000' };

const storageSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('file').optional(), path: configString().optional() }),
  z.strictObject({
    kind: z.literal('nats'),
    url: configString(),
    bucket: configString().optional(),
    replicas: z.union([z.literal(1), z.literal(3), z.literal(5)], { error: 'must be 1, 3 or 5' }).optional(),
    tls: tlsFilesSchema.optional(),
  }),
]);

export const keystoreConfigSchema = z.strictObject({
  listen: listenSchema.optional(),
  tls: tlsFilesSchema,
  policyFile: configString(),
  masterKeyFile: configString().optional(),
  auditLog: configString(),
  storage: storageSchema.optional(),
  logLevel: logLevelSchema.optional(),
  rotation: z
    .strictObject({
      checkIntervalMs: z.int(CHECK_INTERVAL).min(100, CHECK_INTERVAL).max(86_400_000, CHECK_INTERVAL).optional(),
    })
    .optional(),
  metrics: z.strictObject({ listen: listenSchema }).optional(),
});
