#!/usr/bin/env node
// Container health probe for fle services, which accept mutual TLS only (so the
// kubelet's built-in gRPC probe, which speaks plaintext, cannot reach them).
// It connects with the container's own certificate and asks grpc.health.v1
// Health/Check; exit 0 when SERVING, 1 otherwise. `--tls-only` just completes
// an mTLS handshake, for a service without a health service.
//
//   node grpc-health-probe.mjs --addr localhost:8443 --ca ca.pem --cert svc.pem --key svc-key.pem \
//     [--server-name gateway] [--service NAME] [--timeout-ms 3000] [--tls-only]
//
// Plain JavaScript on purpose: it starts in ~100 ms without tsx. It prints one
// line and never prints certificate or key contents.
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { credentials, makeClientConstructor } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

function parseArgs(argv) {
  const out = { service: '', timeoutMs: 3000, tlsOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--addr') out.addr = next();
    else if (a === '--ca') out.ca = next();
    else if (a === '--cert') out.cert = next();
    else if (a === '--key') out.key = next();
    else if (a === '--server-name') out.serverName = next();
    else if (a === '--service') out.service = next();
    else if (a === '--timeout-ms') out.timeoutMs = Number(next());
    else if (a === '--tls-only') out.tlsOnly = true;
    else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['addr', 'ca', 'cert', 'key']) if (!out[k]) throw new Error(`--${k} is required`);
  if (!Number.isFinite(out.timeoutMs) || out.timeoutMs <= 0) throw new Error('--timeout-ms must be a positive number');
  return out;
}

function splitHostPort(addr) {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr);
  if (!m) throw new Error('--addr must be host:port');
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

function checkTls(o, files) {
  const { host, port } = splitHostPort(o.addr);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, ca: files.ca, cert: files.cert, key: files.key, servername: o.serverName ?? host, ALPNProtocols: ['h2'] });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), o.timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.end();
      resolve('mTLS handshake ok');
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function checkHealth(o, files) {
  const Health = makeClientConstructor(healthService, 'grpc.health.v1.Health');
  const options = o.serverName ? { 'grpc.ssl_target_name_override': o.serverName, 'grpc.default_authority': o.serverName } : {};
  const client = new Health(o.addr, credentials.createSsl(files.ca, files.key, files.cert), options);
  return new Promise((resolve, reject) => {
    client.check({ service: o.service }, { deadline: Date.now() + o.timeoutMs }, (err, res) => {
      client.close();
      if (err) return reject(new Error(`${err.code} ${err.details}`));
      if (res?.status !== 'SERVING') return reject(new Error(`status ${res?.status}`));
      resolve('SERVING');
    });
  });
}

try {
  const o = parseArgs(process.argv.slice(2));
  const files = { ca: readFileSync(o.ca), cert: readFileSync(o.cert), key: readFileSync(o.key) };
  const result = await (o.tlsOnly ? checkTls(o, files) : checkHealth(o, files));
  process.stdout.write(`healthy: ${result}\n`);
  process.exit(0);
} catch (err) {
  process.stdout.write(`unhealthy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
