import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { configPathFrom, loadConfig, parseConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { Policy } from '../src/policy.js';

const dir = mkdtempSync(join(tmpdir(), 'fle-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('keystore config', () => {
  it('resolves relative paths against the config folder and fills defaults', () => {
    const path = join(dir, 'keystore.yaml');
    writeFileSync(
      path,
      ['tls: { ca: certs/ca.pem, cert: certs/keystore.pem, key: /abs/keystore-key.pem }', 'policyFile: policy.yaml', 'masterKeyFile: master.key', 'auditLog: audit.jsonl'].join('\n'),
    );
    expect(loadConfig(path)).toEqual({
      source: path,
      listen: '127.0.0.1:7443',
      tls: { ca: join(dir, 'certs/ca.pem'), cert: join(dir, 'certs/keystore.pem'), key: '/abs/keystore-key.pem' },
      policyFile: join(dir, 'policy.yaml'),
      masterKeyFile: join(dir, 'master.key'),
      auditLog: join(dir, 'audit.jsonl'),
      storage: { kind: 'file', path: join(dir, 'data/keystore.json') },
      logLevel: 'info',
      rotation: { checkIntervalMs: 60_000 },
    });
  });

  it('reads the rotation check interval and the metrics listener', () => {
    const base = { tls: { ca: 'a', cert: 'b', key: 'c' }, policyFile: 'p', auditLog: 'l' };
    const c = parseConfig({ ...base, rotation: { checkIntervalMs: 500 }, metrics: { listen: '127.0.0.1:9466' } }, '/etc/fle/keystore.yaml');
    expect(c.rotation).toEqual({ checkIntervalMs: 500 });
    expect(c.metrics).toEqual({ host: '127.0.0.1', port: 9466 });
    expect(() => parseConfig({ ...base, rotation: { checkIntervalMs: 5 } }, 'k.yaml')).toThrow(/rotation.checkIntervalMs must be/);
    expect(() => parseConfig({ ...base, rotation: { checkIntervalMS: 500 } }, 'k.yaml')).toThrow('config k.yaml: unknown key rotation.checkIntervalMS (did you mean checkIntervalMs?)');
    expect(() => parseConfig({ ...base, metrics: { listen: 'nope' } }, 'k.yaml')).toThrow(/metrics.listen must be host:port/);
  });

  it('reads a NATS storage section', () => {
    const c = parseConfig(
      {
        tls: { ca: 'a', cert: 'b', key: 'c' },
        policyFile: 'p',
        auditLog: 'l',
        storage: { kind: 'nats', url: 'tls://nats:4222', replicas: 3, tls: { ca: 'a', cert: 'b', key: 'c' } },
      },
      '/etc/fle/keystore.yaml',
    );
    expect(c.storage).toEqual({ kind: 'nats', url: 'tls://nats:4222', bucket: 'fle_keystore', replicas: 3, tls: { ca: '/etc/fle/a', cert: '/etc/fle/b', key: '/etc/fle/c' } });
    expect(c.masterKeyFile).toBeUndefined();
  });

  it.each([
    [{}, /^config \/x\/k\.yaml: tls is required; policyFile is required; auditLog is required$/],
    [{ tls: 'certs', policyFile: 'p', auditLog: 'l' }, /tls must be a mapping/],
    [{ tls: { ca: 'a', cert: 'b', key: 'c' }, policyFile: 'p', auditLog: 'l', listen: 'nope' }, /listen must be host:port/],
    [{ tls: { ca: 'a', cert: 'b', key: 'c' }, policyFile: 'p', auditLog: 'l', storage: { kind: 's3' } }, /storage\.kind must be one of file, nats/],
    [{ tls: { ca: 'a', cert: 'b', key: 'c' }, policyFile: 'p', auditLog: 'l', storage: { kind: 'nats', url: 'x', replicas: 2 } }, /replicas must be 1, 3 or 5/],
    [{ tls: { ca: 'a', cert: 'b', key: 'c' }, policyFile: 'p', auditLog: 'l', masterKey: 'ab' }, 'config /x/k.yaml: unknown key masterKey (did you mean masterKeyFile?)'],
    [{ tls: { ca: 'a', cert: 'b', key: 'c' }, auditLog: 'l' }, /policyFile is required/],
    [{ tls: { ca: 'a', cert: 'b', key: 'c' }, policyFile: '', auditLog: 'l' }, /policyFile must be a non-empty string/],
  ])('rejects %j', (doc, message) => {
    expect(() => parseConfig(doc, '/x/k.yaml')).toThrow(ConfigError);
    expect(() => parseConfig(doc, '/x/k.yaml')).toThrow(message);
  });

  it('refuses a misspelt key, naming the file and the key; the process exits with that one line (issue 17 §7)', async () => {
    const path = join(dir, 'typo.yaml');
    writeFileSync(path, ['tls: { ca: ca.pem, cert: ks.pem, key: ks-key.pem }', 'policyFile: policy.yaml', 'auditLog: audit.jsonl', 'rotation: { checkIntervalMS: 500 }'].join('\n'));
    expect(() => loadConfig(path)).toThrow(new ConfigError(`config ${path}: unknown key rotation.checkIntervalMS (did you mean checkIntervalMs?)`));
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const env = { ...process.env };
    delete env.FLE_CONFIG;
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), main, '--config', path], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(out).toBe(`keystore: config ${path}: unknown key rotation.checkIntervalMS (did you mean checkIntervalMs?)\n`);
  });

  it('takes the path from --config or FLE_CONFIG', () => {
    expect(configPathFrom('a.yaml', { FLE_CONFIG: 'b.yaml' })).toBe('a.yaml');
    expect(configPathFrom(undefined, { FLE_CONFIG: 'b.yaml' })).toBe('b.yaml');
    expect(() => configPathFrom(undefined, {})).toThrow(/--config <file> or set FLE_CONFIG/);
  });

  it('the deploy policy example parses and denies the gateway', () => {
    const p = Policy.fromYaml('deny: [spiffe://fle.local/gateway]\nfetch: [{identity: spiffe://fle.local/processor, tenants: ["*"]}]\nadmin: [{identity: spiffe://fle.local/admin, tenants: ["*"]}]');
    expect(p.decideAny('spiffe://fle.local/admin', 'admin').allowed).toBe(true);
    expect(p.decideAny('spiffe://fle.local/processor', 'admin').allowed).toBe(false);
    expect(p.decideAny('spiffe://fle.local/gateway', 'fetch')).toEqual({ allowed: false, reason: 'identity is denied by policy' });
  });
});
