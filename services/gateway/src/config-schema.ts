// Every key the gateway config may hold (config.ts documents them and applies
// the defaults). Strict objects throughout: an unknown key is refused, so a
// misspelt `allowedCaller:` cannot silently leave the gateway open to any
// certificate of the CA (issue 17 §7). Lower bounds match config.ts's.
import { configString, validateConfig, hostPortSchema, logLevelSchema, schemaSourceSchema, tlsFilesSchema, z } from '@fle/service-kit';

const bucketSchema = z.strictObject({
  enabled: z.boolean().optional(),
  requestsPerSecond: z.number().min(0.001).optional(),
  burstRequests: z.number().min(1).optional(),
  bytesPerSecond: z.number().min(1).optional(),
  burstBytes: z.number().min(1).optional(),
});

const routeSchema = z
  .strictObject({
    /** One unary method, `/pkg.Service/Method` … */
    method: configString().optional(),
    /** … or every unary method of a service, `pkg.Service`. */
    service: configString().optional(),
    route: configString(),
    transport: z.enum(['nats', 'jetstream', 'grpc']),
    timeoutMs: z.number().min(1).optional(),
    processor: z.strictObject({ address: hostPortSchema, tls: tlsFilesSchema, identity: configString().optional() }).optional(),
  })
  .refine((r) => (r.method === undefined) !== (r.service === undefined), { error: 'must name exactly one of method, service' });

/** `edge:` (edge/config.ts, docs/edge.md): the public listener for browsers and apps. */
const edgeRouteSchema = z
  .strictObject({
    method: configString().optional(),
    service: configString().optional(),
    auth: z.array(z.enum(['jwt', 'device', 'none'])).min(1),
  })
  .refine((r) => (r.method === undefined) !== (r.service === undefined), { error: 'must name exactly one of method, service' });

const edgeSchema = z.strictObject({
  listen: hostPortSchema.optional(),
  /** Server certificate only: the edge asks no client certificate. */
  tls: z.strictObject({ cert: configString(), key: configString() }),
  cors: z.strictObject({ origins: z.array(configString()).optional(), maxAgeSeconds: z.number().min(0).optional() }).optional(),
  jwt: z
    .strictObject({
      jwks: configString().optional(),
      jwksUrl: configString().optional(),
      issuer: configString(),
      audience: configString(),
      tenantClaim: configString().optional(),
      clockToleranceSeconds: z.number().min(0).optional(),
    })
    .optional(),
  devices: z
    .strictObject({
      keystore: z.strictObject({ address: hostPortSchema, tls: tlsFilesSchema, identity: configString().optional() }),
      ttlMs: z.number().min(1).optional(),
      unknownSenderRefetchMs: z.number().min(0).optional(),
    })
    .optional(),
  enroll: z.boolean().optional(),
  static: z.strictObject({ dir: configString() }).optional(),
  routes: z.array(edgeRouteSchema).optional(),
});

export const gatewayConfigSchema = z.strictObject({
  grpc: z.strictObject({
    listen: hostPortSchema.optional(),
    tls: tlsFilesSchema,
    maxMessageBytes: z.number().min(1).optional(),
    maxFieldBytes: z.number().min(1).optional(),
    allowedCallers: z.array(configString()).optional(),
  }),
  nats: z.strictObject({ servers: z.array(configString()).min(1), tls: tlsFilesSchema.optional(), name: configString().optional() }).optional(),
  metrics: z.strictObject({ listen: hostPortSchema.optional() }).optional(),
  log: z.strictObject({ level: logLevelSchema.optional() }).optional(),
  portsFile: configString().optional(),
  rateLimits: z.strictObject({ perCaller: bucketSchema.optional(), perTenant: bucketSchema.optional(), maxKeys: z.number().min(1).optional() }).optional(),
  schema: schemaSourceSchema.optional(),
  /** Most envelopes one request may carry. */
  maxEnvelopes: z.int().min(1).optional(),
  routes: z.array(routeSchema).min(1),
  edge: edgeSchema.optional(),
});

/** Throws a ConfigError naming the key path unless `doc` matches gatewayConfigSchema (the file is added by the caller that knows it). */
export function validateGatewayConfig(doc: unknown, file?: string): void {
  validateConfig(doc, gatewayConfigSchema, file);
}
