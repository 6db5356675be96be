// Every key the processor config may hold (config.ts documents them and
// applies the defaults). Strict objects throughout: an unknown key is refused
// rather than silently defaulted (issue 17 §7). Test-only settings are not
// here: the crash drills' probe reaches the process through FLE_TEST_PROBE
// (test-hooks.ts), so no production config can switch it on.
import { configString, validateConfig, hostPortSchema, logLevelSchema, schemaSourceSchema, tlsFilesSchema, z } from '@fle/service-kit';

const routeSchema = z.strictObject({
  /** Full method path, `/pkg.Service/Method`. */
  method: configString(),
  /** NATS subject token; default: the method name in kebab case. */
  route: configString().optional(),
});

export const processorConfigSchema = z.strictObject({
  grpc: z
    .strictObject({
      listen: hostPortSchema.optional(),
      tls: tlsFilesSchema,
      maxMessageBytes: z.number().min(1).optional(),
      allowedCallers: z.array(configString()).optional(),
    })
    .optional(),
  nats: z.strictObject({ servers: z.array(configString()).min(1), tls: tlsFilesSchema.optional(), name: configString().optional() }),
  keystore: z
    .strictObject({
      address: hostPortSchema,
      tls: tlsFilesSchema,
      identity: configString().optional(),
      cacheTtlMs: z.number().min(0).optional(),
      cacheGraceMs: z.number().min(0).optional(),
      cacheRefreshWindowMs: z.number().min(0).optional(),
    })
    .optional(),
  core: z
    .strictObject({
      enabled: z.boolean().optional(),
      queueGroup: configString().optional(),
      /** Serve the core routes through the NATS service API (discovery, stats). */
      service: z.strictObject({ name: configString(), version: configString().optional() }).optional(),
    })
    .optional(),
  jetstream: z
    .strictObject({
      enabled: z.boolean().optional(),
      durable: configString().optional(),
      maxAttempts: z.number().min(1).optional(),
      ackWaitMs: z.number().min(100).optional(),
      nakBaseMs: z.number().min(0).optional(),
      nakMaxMs: z.number().min(0).optional(),
    })
    .optional(),
  concurrency: z.number().min(1).optional(),
  replay: z.strictObject({ windowMs: z.number().min(1).optional(), store: z.enum(['nats', 'redis']).optional(), redisUrl: configString().optional() }).optional(),
  metrics: z.strictObject({ listen: hostPortSchema.optional() }).optional(),
  log: z.strictObject({ level: logLevelSchema.optional() }).optional(),
  portsFile: configString().optional(),
  hpke: z
    .strictObject({
      kem: z.enum(['noble', 'webcrypto']).optional(),
      devices: z.array(z.strictObject({ tenant: configString(), id: configString(), publicKey: configString() })).optional(),
      deviceRegistry: z
        .strictObject({ ttlMs: z.number().min(1).optional(), graceMs: z.number().min(0).optional(), unknownSenderRefetchMs: z.number().min(0).optional() })
        .optional(),
      requireForRegisteredTenants: z.boolean().optional(),
    })
    .optional(),
  /** The team's schema: a Buf image / FileDescriptorSet, or .proto roots. */
  schema: schemaSourceSchema,
  /** Module path of the team's handlers. */
  handlers: configString(),
  /** Most envelopes one request may carry. */
  maxEnvelopes: z.int().min(1).optional(),
  /** Default: every method the handlers module names. */
  routes: z.array(routeSchema).min(1).optional(),
});

/** Throws a ConfigError naming the key path unless `doc` matches processorConfigSchema (the file is added by the caller that knows it). */
export function validateProcessorConfig(doc: unknown, file?: string): void {
  validateConfig(doc, processorConfigSchema, file);
}
