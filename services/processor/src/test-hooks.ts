// Test-only settings live outside the config file (issue 17 §7): the processor
// config schema (config-schema.ts) has no `testProbe`, so no production config
// can switch it on, by mistake or otherwise. Tests that start the real process
// (testing.ts: startProcessorProcess) pass it in the environment instead:
//
//   FLE_TEST_PROBE='{"openedDigestFile":"/tmp/x/opened.jsonl","holdMs":20}'
//
// TEST ONLY. The probe appends `{nonce, sha256}` of each opened request's
// protobuf bytes to that file and waits `holdMs` before the handler, so a
// crash drill can kill the process with requests inside the handler. Never
// set it in a deployment: it writes a digest of every request to disk.
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, configProblem, configString, z } from '@fle/service-kit';
import type { ProcessorConfig } from './config.js';

export const TEST_PROBE_ENV = 'FLE_TEST_PROBE';

const testProbeSchema = z.strictObject({ openedDigestFile: configString(), holdMs: z.number().min(0).optional() });

/** The probe from env FLE_TEST_PROBE, or undefined when unset. */
export function testProbeFromEnv(env: NodeJS.ProcessEnv = process.env): ProcessorConfig['testProbe'] {
  const raw = env[TEST_PROBE_ENV];
  if (raw === undefined || raw === '') return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${TEST_PROBE_ENV} (test only) must be JSON: {"openedDigestFile": <path>, "holdMs": <ms>}`);
  }
  const problem = configProblem(doc, testProbeSchema);
  if (problem !== undefined) throw new ConfigError(`${TEST_PROBE_ENV} (test only): ${problem}`);
  const p = doc as z.infer<typeof testProbeSchema>;
  return { openedDigestFile: isAbsolute(p.openedDigestFile) ? p.openedDigestFile : resolve(p.openedDigestFile), holdMs: p.holdMs ?? 0 };
}

/** `config` with the test hooks of `env` (none in production). */
export function withTestHooks(config: ProcessorConfig, env: NodeJS.ProcessEnv = process.env): ProcessorConfig {
  const testProbe = testProbeFromEnv(env);
  return testProbe ? { ...config, testProbe } : config;
}
