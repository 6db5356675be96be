// The shipped service configs (deploy/config/*.yaml), read by the services' own
// config parsers, so a key the service does not know, or a missing required
// one, fails here exactly as it would at startup.
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseGatewayConfig, type GatewayConfig } from '@fle/gateway';
import { parseConfig as parseKeystoreConfig, type KeystoreConfig } from '@fle/keystore';
import { parseProcessorConfig, type ProcessorConfig } from '@fle/processor';
import { validateConfig, type z } from '@fle/service-kit';
import { gatewayConfigSchema } from '../../services/gateway/src/config-schema.js';
import { keystoreConfigSchema } from '../../services/keystore/src/config-schema.js';
import { processorConfigSchema } from '../../services/processor/src/config-schema.js';
import { readText, repoPath } from './repo.js';

export const FLE_SERVICES = ['keystore', 'gateway', 'processor'] as const;
export type FleService = (typeof FLE_SERVICES)[number];

export interface ShippedConfigs {
  keystore: KeystoreConfig;
  gateway: GatewayConfig;
  processor: ProcessorConfig;
}

/** Each service's config schema, the one its parser checks first (services/<service>/src/config-schema.ts). */
export const CONFIG_SCHEMAS: Readonly<Record<FleService, z.ZodType>> = { keystore: keystoreConfigSchema, gateway: gatewayConfigSchema, processor: processorConfigSchema };

/** Every folder of service configs the repository ships (the compose stack's, and the kustomize base's copies). */
export const SHIPPED_CONFIG_DIRS = ['deploy/config', 'deploy/k8s/base/config'] as const;

/** Validates `<dir>/<service>.yaml` against the service's schema; throws a ConfigError naming the file and the key. */
export function validateShippedConfig(service: FleService, dir: string = SHIPPED_CONFIG_DIRS[0], text?: string): void {
  const file = `${dir}/${service}.yaml`;
  validateConfig(parseYaml(text ?? readText(repoPath(file))), CONFIG_SCHEMAS[service], file);
}

/** Parses `<dir>/<service>.yaml` for every service; `dir` is repository-relative. */
export function parseShippedConfigs(dir = 'deploy/config'): ShippedConfigs {
  const file = (name: string) => repoPath(dir, `${name}.yaml`);
  const doc = (name: string) => parseYaml(readText(file(name))) as unknown;
  return {
    keystore: parseKeystoreConfig(doc('keystore'), file('keystore')),
    gateway: parseGatewayConfig(doc('gateway'), repoPath(dir)),
    processor: parseProcessorConfig(doc('processor'), repoPath(dir)),
  };
}

export interface ServiceEndpoint {
  /** The gRPC port the service listens on inside its container. */
  port: number;
  /** Certificate file names (under the mounted certificate folder) the service presents. */
  cert: string;
  key: string;
  ca: string;
}

/** What a health probe inside each container must use, read from the parsed configs. */
export function serviceEndpoints(configs: ShippedConfigs = parseShippedConfigs()): Record<FleService, ServiceEndpoint> {
  const base = (p: string) => p.split('/').pop()!;
  const ks = configs.keystore;
  const gw = configs.gateway.grpc;
  const pr = configs.processor.grpc;
  if (!pr) throw new Error('deploy/config/processor.yaml must serve gRPC (health probes and the gateway grpc transport use it)');
  return {
    keystore: { port: Number(ks.listen.split(':').pop()), cert: base(ks.tls.cert), key: base(ks.tls.key), ca: base(ks.tls.ca) },
    gateway: { port: gw.port, cert: base(gw.tls.cert), key: base(gw.tls.key), ca: base(gw.tls.ca) },
    processor: { port: pr.port, cert: base(pr.tls.cert), key: base(pr.tls.key), ca: base(pr.tls.ca) },
  };
}

/** Checks health-probe arguments (`grpc-health-probe.mjs …`) against a service's endpoint; returns problems. */
export function probeProblems(service: FleService, args: readonly string[], certsDir = '/etc/fle/certs'): string[] {
  const ep = serviceEndpoints()[service];
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const problems: string[] = [];
  if (!args.some((a) => a.endsWith('deploy/docker/grpc-health-probe.mjs'))) problems.push('does not run grpc-health-probe.mjs');
  if (value('--addr') !== `localhost:${ep.port}`) problems.push(`--addr ${value('--addr')} is not localhost:${ep.port}`);
  if (value('--ca') !== join(certsDir, ep.ca)) problems.push(`--ca ${value('--ca')}`);
  if (value('--cert') !== join(certsDir, ep.cert)) problems.push(`--cert ${value('--cert')}`);
  if (value('--key') !== join(certsDir, ep.key)) problems.push(`--key ${value('--key')}`);
  // Only the keystore, which serves no grpc.health.v1, is checked by handshake alone.
  if (args.includes('--tls-only') !== (service === 'keystore')) problems.push('--tls-only is for the keystore only');
  return problems;
}
