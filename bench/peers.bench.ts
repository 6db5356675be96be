// peers: fle beside two other field/value encryption libraries (issue 23.4),
// on the same 12 sensitive values of one e2e request (support/peers-values.ts:
// card number, holder name, CVV, national id, a 1 KiB biometric template, two
// addresses, two order notes, two map values, an email).
//
//   fle, per value        sealEnvelope / openEnvelope (default backend), one
//                         envelope per value bound to (tenant, message type,
//                         field path, context) as FieldCipher binds it
//   fle, whole message    FieldCipher.sealMessage + protobuf encode of the
//                         request / decode + openMessage
//   AWS Encryption SDK    @aws-crypto/client-node, raw AES keyring, one ESDK
//                         message per value, the same binding as encryption
//                         context; the committing suite without signing and
//                         the default (committing, ECDSA P-384 signed)
//   Confluent CSFLE       @confluentinc/schemaregistry's Protobuf serializer
//                         with an ENCRYPT rule on PII-tagged fields, mock://
//                         schema + DEK registries, local KMS; DEK AES256_GCM
//                         (the default) and AES256_SIV. Its rule leaves nested
//                         fields in clear and cannot take a map or a repeated
//                         string (checked below, printed as a note), so the 12
//                         values are 12 top-level fields of one message.
//
// All variants run interleaved in rounds (bench/lib.ts), each call sealing or
// opening all 12 values; µs per value = median per call ÷ 12. Overhead per
// value: what a value grows by where it is stored (fle: its envelope, as
// base64url text in a string field, spec §5; ESDK: the message; fle whole
// message and Confluent: the serialized message's growth ÷ 12). "Binds" is
// measured: a value sealed for one field is opened as another field's.
// 15 rounds (about 2 min); FLE_PEERS_ROUNDS=3 for a quick look.
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  type EncryptionContext,
} from '@aws-crypto/client-node';
import { paymentsSchema as schemaRoot } from '@fle-examples/payments/schema';
import { AuthorizeRequest } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import {
  compileSchema,
  defaultBackend,
  FieldCipher,
  openEnvelope,
  sealEnvelope,
  sodiumReady,
  StaticKeyProvider,
  type AadBinding,
} from '@fle/field-crypto';
import { bootstrapMedianCi, interleaved, rowOf, type BenchSuite, type Candidate, type Measurement, type Row } from './lib.js';
import { confluentSetup, type ConfluentPeer } from './support/peers-confluent.js';
import { PEER_PAYLOAD, PEER_TENANT, peerRequest, peerValues, type PeerValue } from './support/peers-values.js';

const TYPE = 'acme.payments.v1.AuthorizeRequest';
const CONTEXT = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';
const KEY = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
/** Confluent's wire format before the message: magic byte, 4-byte schema id, message indexes (one message: 1 byte). */
const CONFLUENT_HEADER = 6;

interface PeerRow {
  readonly peer: string;
  readonly algorithm: string;
  readonly sealUsPerValue: number;
  readonly openUsPerValue: number;
  /** 95% bootstrap interval of the median, µs per value. */
  readonly sealCi: [number, number];
  readonly openCi: [number, number];
  readonly overheadBytesPerValue: number;
  readonly bindsAssociatedData: string;
}

const b64urlLength = (n: number) => Math.ceil((4 * n) / 3);

function perValue(m: Measurement, n: number): { us: number; ci: [number, number] } {
  const ci = bootstrapMedianCi(m.samples);
  return { us: m.nsPerOp / n / 1000, ci: [ci[0] / n / 1000, ci[1] / n / 1000] };
}

async function fleSetup(values: readonly PeerValue[], request: AuthorizeRequest) {
  const schema = compileSchema(schemaRoot());
  const keys = new StaticKeyProvider([
    { tenant: PEER_TENANT, versions: [{ version: 1, key: KEY }] },
    { tenant: PEER_TENANT, ring: 'pci', versions: [{ version: 1, key: KEY }] },
  ]);
  const cipher = new FieldCipher({ schema, keys });
  const bindings: AadBinding[] = values.map((v) => ({ tenant: PEER_TENANT, messageType: TYPE, fieldPath: v.path, context: CONTEXT }));
  const sealOne = (v: PeerValue, i: number) => sealEnvelope(v.bytes, { backend: defaultBackend, key: KEY, keyVersion: 1, alg: 1, binding: bindings[i]! });
  const sealedValues = values.map(sealOne);
  const plainBytes = AuthorizeRequest.encode(request).finish().length;
  const sealedRequest = AuthorizeRequest.encode(await cipher.sealMessage(TYPE, request, { context: CONTEXT })).finish();
  // A value sealed for field 0 opened as field 1's (a cut-and-paste between fields).
  let moved: string;
  try {
    openEnvelope(sealedValues[0]!, { backend: defaultBackend, key: KEY, binding: bindings[1]! });
    moved = 'no: a value moved to another field opens';
  } catch {
    moved = 'yes: tenant, message type, field path, context, header';
  }
  return {
    perValue: {
      seal: () => {
        for (let i = 0; i < values.length; i++) sealOne(values[i]!, i);
      },
      open: () => {
        for (let i = 0; i < values.length; i++) openEnvelope(sealedValues[i]!, { backend: defaultBackend, key: KEY, binding: bindings[i]! });
      },
      // A string field carries the envelope as base64url text (spec §5), a bytes field the envelope.
      overhead: values.reduce((n, v, i) => n + (v.text !== undefined ? b64urlLength(sealedValues[i]!.length) : sealedValues[i]!.length) - v.bytes.length, 0) / values.length,
    },
    message: {
      seal: async () => AuthorizeRequest.encode(await cipher.sealMessage(TYPE, request, { context: CONTEXT })).finish(),
      open: async () => cipher.openMessage(TYPE, AuthorizeRequest.decode(sealedRequest), { context: CONTEXT, inPlace: true }),
      overhead: (sealedRequest.length - plainBytes) / values.length,
    },
    moved,
  };
}

async function awsSetup(values: readonly PeerValue[], suiteId: AlgorithmSuiteIdentifier) {
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new RawAesKeyringNode({
    keyName: 'fle-bench-key',
    keyNamespace: 'fle-bench',
    // The keyring takes the buffer over and zero-fills it: give it its own copy.
    unencryptedMasterKey: KEY.slice(),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  // The binding fle puts in its AAD, as ESDK encryption context (authenticated, stored in clear in the message header).
  const contexts: EncryptionContext[] = values.map((v) => ({ tenant: PEER_TENANT, messageType: TYPE, fieldPath: v.path, context: CONTEXT }));
  const sealOne = async (v: PeerValue, i: number) => (await encrypt(keyring, v.bytes, { suiteId, encryptionContext: contexts[i]! })).result;
  /** decrypt() takes no expected context: it returns the one in the message, which the caller must compare. */
  const openOne = async (sealed: Uint8Array, expected: EncryptionContext) => {
    const { plaintext, messageHeader } = await decrypt(keyring, sealed);
    for (const [k, v] of Object.entries(expected)) {
      if (messageHeader.encryptionContext[k] !== v) throw new Error(`encryption context ${k} differs`);
    }
    return plaintext;
  };
  const sealed: Uint8Array[] = [];
  for (let i = 0; i < values.length; i++) sealed.push(await sealOne(values[i]!, i));
  let moved: string;
  try {
    await decrypt(keyring, sealed[0]!); // decrypt itself accepts it ...
    await openOne(sealed[0]!, contexts[1]!); // ... the caller's check does not
    moved = 'no: a value moved to another field opens';
  } catch {
    moved = 'yes: encryption context (in clear in the message; the caller compares it) and header';
  }
  return {
    seal: async () => {
      for (let i = 0; i < values.length; i++) await sealOne(values[i]!, i);
    },
    open: async () => {
      for (let i = 0; i < values.length; i++) await openOne(sealed[i]!, contexts[i]!);
    },
    overhead: values.reduce((n, v, i) => n + sealed[i]!.length - v.bytes.length, 0) / values.length,
    moved,
  };
}

/** Confluent: the 12 values as one flat message's fields; swapping two sealed fields tests the binding. */
async function confluentVariant(peer: ConfluentPeer, clear: ConfluentPeer, init: object, values: readonly PeerValue[]) {
  const sealed = await peer.serialize(init);
  const plain = await clear.serialize(init);
  const firstText = values.findIndex((v) => v.text !== undefined);
  const secondText = values.findIndex((v, i) => i > firstText && v.text !== undefined);
  const payload = peer.payload(sealed, CONFLUENT_HEADER) as unknown as Record<string, unknown>;
  const a = `v${firstText + 1}`;
  const b = `v${secondText + 1}`;
  [payload[a], payload[b]] = [payload[b], payload[a]];
  const swapped = Buffer.concat([sealed.subarray(0, CONFLUENT_HEADER), peer.encodePayload(payload as never)]);
  let moved: string;
  try {
    const back = (await peer.deserialize(swapped)) as unknown as Record<string, unknown>;
    moved = back[a] === values[secondText]!.text ? 'no: empty associated data' : 'no (a moved value opens, garbled)';
  } catch {
    moved = 'yes';
  }
  return {
    seal: () => peer.serialize(init),
    open: () => peer.deserialize(sealed),
    overhead: (sealed.length - plain.length) / values.length,
    moved,
  };
}

function markdownTable(rows: readonly PeerRow[]): string {
  const f = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  return [
    '| peer | algorithm | seal µs/value | open µs/value | overhead bytes/value | binds associated data |',
    '|---|---|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.peer} | ${r.algorithm} | ${f(r.sealUsPerValue)} | ${f(r.openUsPerValue)} | ${r.overheadBytesPerValue.toFixed(0)} | ${r.bindsAssociatedData} |`),
  ].join('\n');
}

const suite: BenchSuite = {
  description: `fle, AWS Encryption SDK and Confluent CSFLE sealing/opening the 12 sensitive values of one e2e request (${PEER_PAYLOAD} B template)`,
  async run() {
    await sodiumReady;
    const request = peerRequest();
    const values = peerValues(request);
    const n = values.length;
    const fle = await fleSetup(values, request);
    const awsUnsigned = await awsSetup(values, AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY);
    const awsSigned = await awsSetup(values, AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384);
    const notes: string[] = [];
    const confluentRequest = {
      tenantId: request.tenantId,
      card: { ...request.card },
      nationalId: request.nationalId,
      biometricTemplate: request.biometricTemplate,
      previousAddresses: request.previousAddresses,
      items: request.items.map((i) => ({ ...i })),
      customerAttributes: request.customerAttributes,
      contact: { case: 'email', value: request.email },
    };
    const cf = await confluentSetup(values, confluentRequest);
    notes.push(`Confluent's rule on the e2e request's own shape (@confluentinc/schemaregistry 1.10.1): ${cf.shapeReport}; so its rows seal the 12 values as 12 top-level fields of one message`);
    const gcm = await confluentVariant(cf.flat.AES256_GCM, cf.flat.none, cf.flatInit, values);
    const siv = await confluentVariant(cf.flat.AES256_SIV, cf.flat.none, cf.flatInit, values);

    interface Variant {
      peer: string;
      algorithm: string;
      seal: Candidate['fn'];
      open: Candidate['fn'];
      overhead: number;
      moved: string;
    }
    const variants: Variant[] = [
      { peer: 'fle, per value', algorithm: `ChaCha20-Poly1305 (${defaultBackend.name})`, ...fle.perValue, moved: fle.moved },
      { peer: 'fle, whole message', algorithm: `ChaCha20-Poly1305 (${defaultBackend.name}), sealMessage + protobuf encode`, ...fle.message, moved: fle.moved },
      { peer: 'AWS ESDK, unsigned', algorithm: 'AES-256-GCM, HKDF-SHA512, key commitment (0x0478)', ...awsUnsigned },
      { peer: 'AWS ESDK, signed (default)', algorithm: 'AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384 (0x0578)', ...awsSigned },
      { peer: 'Confluent CSFLE', algorithm: 'AES256_GCM DEK (default), Protobuf serialize', ...gcm },
      { peer: 'Confluent CSFLE', algorithm: 'AES256_SIV DEK (deterministic), Protobuf serialize', ...siv },
    ];
    // Codec-only baselines for the whole-message rows.
    const codec: Candidate[] = [
      { name: 'fle: protobuf encode only (ts-proto)', fn: () => AuthorizeRequest.encode(request).finish() },
      { name: 'Confluent: serialize without the rule', fn: () => cf.flat.none.serialize(cf.flatInit) },
    ];
    const candidates: Candidate[] = [
      ...variants.flatMap((v) => [
        { name: `${v.peer} [${v.algorithm}] seal x${n}`, fn: v.seal },
        { name: `${v.peer} [${v.algorithm}] open x${n}`, fn: v.open },
      ]),
      ...codec,
    ];
    const measured = await interleaved(candidates, { rounds: Number(process.env.FLE_PEERS_ROUNDS ?? 15), batchMs: 60, warmupMs: 300 });
    const rows: Row[] = measured.map((m) => rowOf('peers', m));
    const peers: PeerRow[] = variants.map((v, i) => {
      const seal = perValue(measured[2 * i]!, n);
      const open = perValue(measured[2 * i + 1]!, n);
      return {
        peer: v.peer,
        algorithm: v.algorithm,
        sealUsPerValue: seal.us,
        openUsPerValue: open.us,
        sealCi: seal.ci,
        openCi: open.ci,
        overheadBytesPerValue: v.overhead,
        bindsAssociatedData: v.moved,
      };
    });
    const [fleCodec, cfCodec] = measured.slice(variants.length * 2);
    notes.push(
      `codec alone, per message: ts-proto encode ${(fleCodec!.nsPerOp / 1000).toFixed(1)} µs; Confluent serialize without a rule ${(cfCodec!.nsPerOp / 1000).toFixed(1)} µs (included in the whole-message rows)`,
      'µs/value = median CPU time of a call sealing (opening) all 12 values ÷ 12, interleaved rounds; 95% bootstrap intervals in bench/results/peers.json',
      'binds associated data: a value sealed for one field is opened as another field\'s (fle: openEnvelope with the other binding; ESDK: decrypt, then the caller compares the encryption context it returns, as AWS advises, since decrypt() takes no expected context; Confluent: two sealed fields swapped in the serialized message, which deserializes with the values swapped)',
      'ESDK overhead is binary (a string field would need base64 on top); fle per value counts base64url text for string fields (spec §5)',
    );
    const table = markdownTable(peers);
    console.log(`\n${table}\n`);
    return { rows, targets: [], notes, table, peers, values: values.map((v) => ({ label: v.label, path: v.path, bytes: v.bytes.length })) };
  },
};
export default suite;
