// The gRPC face of the keystore: every call is authenticated by its client
// certificate (mTLS, checkClientCertificate: true, via @fle/pki), authorized
// by the policy, audited, then served by the Keystore. Errors reach the client
// through `grpcStatusOf` only, so a cause never leaks into a response.
import * as grpc from '@grpc/grpc-js';
import { identityFromPeerCertificate } from '@fle/pki';
import {
  type DeviceInfo,
  type KeyAlg,
  type KeyKind,
  KeystoreAdminServiceService,
  KeystoreServiceService,
  type KeyMaterial,
  type KeyVersionInfo,
  type KeystoreAdminServiceServer,
  type PublicKey,
  type KeystoreServiceServer,
} from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import type { AuditSink } from './audit.js';
import { DEFAULT_ENROLLMENT_TTL_MS, enrollmentIdOf, type DeviceView } from './device-model.js';
import { KeystoreError, PermissionDeniedError, UnauthenticatedError, grpcStatusOf } from './errors.js';
import type { Keystore, KeyMaterialResult, PublicKeyResult } from './keystore.js';
import type { KeyAlgByte, KeyKindName, KeyVersionView } from './model.js';
import type { Decision, Policy, PolicyAction } from './policy.js';
import { algFromProto, deviceInfo, kindFromProto, ringInfo, rotationFromProto, rotationToProto, versionInfo } from './proto-mapping.js';

export interface KeystoreServiceOptions {
  keystore: Keystore;
  /** Read on every call, so a reloaded policy applies at once. */
  policy: () => Policy;
  audit: AuditSink;
  /** Logs failures (never key bytes); defaults to nothing. */
  onError?: (err: unknown, action: string) => void;
}

interface Target {
  tenant: string;
  ring?: string;
  version?: number;
  /** Device actions: the device and the enrollment (token id) named, for the audit line. */
  device?: string;
  enrollment?: string;
}

type Call = grpc.ServerUnaryCall<unknown, unknown>;

/** The caller's SPIFFE ID from its client certificate, or undefined. */
export function callerIdentity(call: Call): string | undefined {
  return identityFromPeerCertificate(call.getAuthContext()?.sslPeerCertificate);
}

/**
 * What a handler returns: the response, and for its audit line the version
 * handed out (when the caller asked for "the primary") and the generation of
 * the ring record the request read or wrote (record-auth.ts: the anchor).
 */
interface Served<Res> {
  res: Res;
  version?: number;
  generation?: number;
  /** Device actions: the device enrolled, and the enrollment issued or redeemed. */
  device?: string;
  enrollment?: string;
}

const DENIED_WHAT: Record<PolicyAction, string> = {
  fetch: 'fetch keys of',
  'fetch-public': 'fetch public keys of',
  admin: 'administer',
  enroll: 'enroll devices of',
  devices: 'read the devices of',
};

function unary<Req, Res>(
  opts: KeystoreServiceOptions,
  action: string,
  permission: PolicyAction | ((policy: Policy, identity: string, req: Req) => Decision),
  target: (req: Req) => Target,
  run: (req: Req, identity: string) => Promise<Served<Res>>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const identity = callerIdentity(call as Call);
    const t = target(call.request);
    const base = {
      identity: identity ?? null,
      action,
      tenant: t.tenant,
      ring: t.ring ?? null,
      version: t.version ?? null,
      ...(t.device !== undefined ? { device: t.device } : {}),
      ...(t.enrollment !== undefined ? { enrollment: t.enrollment } : {}),
    };
    const fail = (err: unknown, allowed: boolean, reason: string): void => {
      const s = grpcStatusOf(err);
      if (!(err instanceof KeystoreError) || s.code === grpc.status.INTERNAL || s.code === grpc.status.UNAVAILABLE) opts.onError?.(err, action);
      try {
        opts.audit.record({ ...base, generation: null, allowed, reason, outcome: grpc.status[s.code] });
      } catch (auditErr) {
        opts.onError?.(auditErr, action);
      }
      callback({ code: s.code, details: s.details });
    };
    if (!identity) {
      fail(new UnauthenticatedError('client certificate carries no SPIFFE identity'), false, 'no client identity');
      return;
    }
    const decision =
      typeof permission === 'function' ? permission(opts.policy(), identity, call.request) : opts.policy().decide(identity, permission, t.tenant, t.ring);
    if (!decision.allowed) {
      const what = typeof permission === 'function' ? 'administer' : DENIED_WHAT[permission];
      const ringPart = t.ring === undefined ? '' : ` ring ${t.ring}`;
      fail(new PermissionDeniedError(`${identity} may not ${what} tenant ${t.tenant}${ringPart}`), false, decision.reason);
      return;
    }
    run(call.request, identity).then(
      (served) => {
        try {
          // Audited before the answer leaves: no unaudited key release. The
          // version handed out is recorded even when the caller asked for "the primary".
          opts.audit.record({
            ...base,
            version: served.version ?? base.version,
            generation: served.generation ?? null,
            ...(served.device !== undefined ? { device: served.device } : {}),
            ...(served.enrollment !== undefined ? { enrollment: served.enrollment } : {}),
            allowed: true,
            reason: decision.reason,
            outcome: 'OK',
          });
        } catch (err) {
          fail(err, true, 'audit log unavailable');
          return;
        }
        callback(null, served.res);
      },
      (err: unknown) => fail(err, true, err instanceof KeystoreError ? err.message : 'internal error'),
    );
  };
}

function material(m: KeyMaterialResult): KeyMaterial {
  const secret = Buffer.from(m.key.exposeBytes());
  const empty = Buffer.alloc(0);
  const out =
    m.info.kind === 'x25519'
      ? { info: versionInfo(m.info), symmetricKey: empty, x25519PrivateKey: secret, x25519PublicKey: Buffer.from(m.publicKey!) }
      : { info: versionInfo(m.info), symmetricKey: secret, x25519PrivateKey: empty, x25519PublicKey: empty };
  m.key.destroy(); // the response holds the only copy from here on
  return out;
}

function publicKey(p: PublicKeyResult): PublicKey {
  return { info: versionInfo(p.info), x25519PublicKey: Buffer.from(p.publicKey) };
}

/** A response built from one version view, audited with its version and generation. */
function served<Res>(view: KeyVersionView, res: Res): Served<Res> {
  return { res, version: view.version, generation: view.generation };
}

export function keystoreServiceImpl(opts: KeystoreServiceOptions): KeystoreServiceServer {
  const ks = opts.keystore;
  return {
    getPrimaryKey: unary(opts, 'GetPrimaryKey', 'fetch', (r) => ({ tenant: r.tenant, ring: r.ring }), async (r) => {
      const m = await ks.primaryKey(r.tenant, r.ring);
      return served(m.info, { key: material(m) });
    }),
    getKeyVersion: unary(
      opts,
      'GetKeyVersion',
      'fetch',
      (r) => ({ tenant: r.tenant, ring: r.ring, version: r.version }),
      async (r) => {
        const m = await ks.keyVersion(r.tenant, r.ring, r.version);
        return served(m.info, { key: material(m) });
      },
    ),
    // Public keys only: `fetch-public` identities (clients that seal with HPKE) get
    // this and nothing else; `fetch` implies it (policy.ts).
    getPublicKey: unary(opts, 'GetPublicKey', 'fetch-public', (r) => ({ tenant: r.tenant, ring: r.ring }), async (r) => {
      const p = await ks.publicKey(r.tenant, r.ring);
      return served(p.info, { key: publicKey(p) });
    }),
    // Whoever may fetch (and so seal with) a ring's keys may report its seals.
    reportSealCounts: unary(opts, 'ReportSealCounts', 'fetch', (r) => ({ tenant: r.tenant, ring: r.ring }), async (r) => {
      const view = await ks.addSealCounts(r.tenant, r.ring, r.counts.map((c) => ({ version: c.version, seals: c.seals })));
      return { res: {}, generation: view.generation };
    }),
    // An app's enrollment, relayed by the gateway's edge (an `enroll` identity). The
    // audit line names the token by its id only, and only once the token is well-formed.
    enrollDevice: unary(
      opts,
      'EnrollDevice',
      'enroll',
      (r) => ({ tenant: r.tenant, ...optional('enrollment', enrollmentIdOf(r.token)) }),
      async (r) => {
        const d = await ks.devices.enroll(r.tenant, { token: r.token, publicKey: r.x25519PublicKey, label: r.label });
        return { res: { device: deviceInfo(d) }, generation: d.generation, device: d.id };
      },
    ),
    // Active devices only: what an opener checks alg 4 senders against.
    getDevices: unary(opts, 'GetDevices', 'devices', (r) => ({ tenant: r.tenant }), async (r) => {
      const got = await ks.devices.list(r.tenant, { activeOnly: true });
      return { res: { devices: got.devices.map(deviceInfo), senderRequired: got.senderRequired }, ...optional('generation', got.generation) };
    }),
  };
}

/** `{ [key]: value }`, or nothing when value is undefined (exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** A device id as the audit line's `device`, when it has a device id's form (admins type it). */
function deviceTarget(id: string): { device?: string } {
  return /^dev_[A-Za-z0-9_-]{16}$/.test(id) ? { device: id } : {};
}

function oneDevice(d: DeviceView): Served<{ device: DeviceInfo }> {
  return { res: { device: deviceInfo(d) }, generation: d.generation, device: d.id };
}

export function keystoreAdminServiceImpl(opts: KeystoreServiceOptions): KeystoreAdminServiceServer {
  const ks = opts.keystore;
  const ringOf = <R extends { tenant: string; ring: string }>(r: R): Target => ({ tenant: r.tenant, ring: r.ring });
  const versionOf = <R extends { tenant: string; ring: string; version: number }>(r: R): Target => ({
    tenant: r.tenant,
    ring: r.ring,
    version: r.version,
  });
  const one = (v: KeyVersionView): Served<{ version: KeyVersionInfo }> => served(v, { version: versionInfo(v) });
  return {
    createKeyRing: unary(opts, 'CreateKeyRing', 'admin', ringOf, async (r) => one(await ks.createRing(r.tenant, r.ring, createOptions(r.kind, r.alg)))),
    rotateKeyRing: unary(opts, 'RotateKeyRing', 'admin', ringOf, async (r) => one(await ks.rotate(r.tenant, r.ring))),
    promoteKeyVersion: unary(opts, 'PromoteKeyVersion', 'admin', versionOf, async (r) => {
      const out = await ks.promote(r.tenant, r.ring, r.version);
      return served(out.version, { version: versionInfo(out.version), previousPrimary: versionInfo(out.previousPrimary) });
    }),
    disableKeyVersion: unary(opts, 'DisableKeyVersion', 'admin', versionOf, async (r) => one(await ks.disable(r.tenant, r.ring, r.version))),
    enableKeyVersion: unary(opts, 'EnableKeyVersion', 'admin', versionOf, async (r) => one(await ks.enable(r.tenant, r.ring, r.version))),
    destroyKeyVersion: unary(opts, 'DestroyKeyVersion', 'admin', versionOf, async (r) => one(await ks.destroy(r.tenant, r.ring, r.version))),
    listKeyVersions: unary(opts, 'ListKeyVersions', 'admin', ringOf, async (r) => {
      const versions = await ks.listVersions(r.tenant, r.ring);
      return { res: { versions: versions.map(versionInfo) }, generation: versions[0]?.generation };
    }),
    // An empty tenant lists every ring the caller administers, so the policy is
    // applied per ring below; a named tenant is checked up front like the rest.
    listKeyRings: (call, callback) => {
      if (call.request.tenant !== '') {
        unary(opts, 'ListKeyRings', 'admin', (r: { tenant: string }) => ({ tenant: r.tenant }), async (r) => ({
          res: { rings: (await ks.listRings(r.tenant)).map(ringInfo) },
        }))(call, callback);
        return;
      }
      const anyAdmin = (policy: Policy, identity: string): Decision => policy.decideAny(identity, 'admin');
      unary(opts, 'ListKeyRings', anyAdmin, () => ({ tenant: '*' }), async (_r, identity) => ({
        res: {
          rings: (await ks.listRings())
            .filter((ring) => opts.policy().decide(identity, 'admin', ring.tenant, ring.ring).allowed)
            .map(ringInfo),
        },
      }))(call, callback);
    },
    setRotationPolicy: unary(opts, 'SetRotationPolicy', 'admin', ringOf, async (r) => {
      const ring = await ks.setRotationPolicy(r.tenant, r.ring, r.policy === undefined ? null : rotationFromProto(r.policy));
      return { res: { policy: ring.rotation === null ? undefined : rotationToProto(ring.rotation) }, generation: ring.generation };
    }),
    getRotationPolicy: unary(opts, 'GetRotationPolicy', 'admin', ringOf, async (r) => {
      const st = await ks.rotationStatus(r.tenant, r.ring);
      return {
        res: {
          policy: st.policy === null ? undefined : rotationToProto(st.policy),
          primary: versionInfo(st.primary),
          pending: st.pending === undefined ? undefined : versionInfo(st.pending),
          rotateAtUnixMs: st.rotateAt ?? 0,
          promoteAtUnixMs: st.promoteAt ?? 0,
        },
        generation: st.primary.generation,
      };
    }),
    // The token goes to the admin who asked, in the response only: never into the audit line or a log.
    createDeviceEnrollment: unary(opts, 'CreateDeviceEnrollment', 'admin', (r) => ({ tenant: r.tenant }), async (r) => {
      const issued = await ks.devices.issueEnrollment(r.tenant, r.ttlMs === 0 ? DEFAULT_ENROLLMENT_TTL_MS : r.ttlMs);
      return {
        res: { token: issued.token, enrollmentId: issued.enrollmentId, expiresAtUnixMs: issued.expiresAt },
        generation: issued.generation,
        enrollment: issued.enrollmentId,
      };
    }),
    listDevices: unary(opts, 'ListDevices', 'admin', (r) => ({ tenant: r.tenant }), async (r) => {
      const got = await ks.devices.list(r.tenant);
      return { res: { devices: got.devices.map(deviceInfo) }, ...optional('generation', got.generation) };
    }),
    revokeDevice: unary(opts, 'RevokeDevice', 'admin', (r) => ({ tenant: r.tenant, ...deviceTarget(r.deviceId) }), async (r) =>
      oneDevice(await ks.devices.revoke(r.tenant, r.deviceId)),
    ),
  };
}

function createOptions(kind: KeyKind, alg: KeyAlg): { kind: KeyKindName; alg?: KeyAlgByte } {
  const a = algFromProto(alg);
  return { kind: kindFromProto(kind), ...(a === undefined ? {} : { alg: a }) };
}

export interface StartedServer {
  server: grpc.Server;
  port: number;
  close(): Promise<void>;
}

/** Binds both services on `address` (host:port, port 0 = any free port). */
export async function startGrpcServer(
  opts: KeystoreServiceOptions & { address: string; credentials: grpc.ServerCredentials },
): Promise<StartedServer> {
  const server = new grpc.Server({
    // Requests are a few names and numbers: refuse anything large.
    'grpc.max_receive_message_length': 64 * 1024,
  });
  server.addService(KeystoreServiceService, keystoreServiceImpl(opts));
  server.addService(KeystoreAdminServiceService, keystoreAdminServiceImpl(opts));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.address, opts.credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
