// A second process of the clinic: the wards desk, which reads PatientAdmitted
// from the admissions stream (a durable JetStream consumer) with the patient's
// name opened, once per event id. It prints the ward and a digest of the name
// (a real desk would assign a bed; plaintext stays out of its logs).
//   node --conditions=@fle/source --import tsx examples/clinic/src/wards.ts --config wards.yaml
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { AckPolicy, connect, DeliverPolicy } from 'nats';
import { consumeEvents, eventType, openEventIdStore } from '@fle/events';
import { compileSchema } from '@fle/field-crypto';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { fleConnectionOptions } from '@fle/nats-setup';
import { messageCodec } from '@fle/schema';
import { readClinicConfig } from './config.js';
import type { PatientAdmitted } from './gen/clinic/v1/clinic.js';
import { ADMISSIONS_STREAM, PATIENT_ADMITTED, clinicSchema } from './schema.js';

const config = readClinicConfig();
const schema = clinicSchema(config.schema);
const keys = new KeystoreKeyProvider({ address: config.keystore.address, tls: config.tls });
const nc = await connect(fleConnectionOptions({ servers: config.nats.servers, tls: config.tls, identity: config.identity, name: 'clinic-wards' }));
const js = nc.jetstream();
const jsm = await nc.jetstreamManager();
await jsm.consumers.add(ADMISSIONS_STREAM, { durable_name: 'wards', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_deliver: -1 });

const subscription = await consumeEvents<PatientAdmitted>({
  nc,
  js,
  schema: compileSchema(schema),
  keys,
  type: eventType(PATIENT_ADMITTED, messageCodec<PatientAdmitted>(schema, PATIENT_ADMITTED)),
  stream: ADMISSIONS_STREAM,
  durable: 'wards',
  seen: await openEventIdStore(js),
  handler: (event, ctx) => {
    const digest = createHash('sha256').update(event.patientName).digest('hex').slice(0, 16);
    console.log(`admitted tenant=${ctx.tenant} ward=${event.ward} patient=sha256:${digest} id=${ctx.msgId}`);
  },
});
if (config.portsFile) writeFileSync(config.portsFile, JSON.stringify({ grpc: 0, metrics: 0, pid: process.pid }));
console.log('wards desk ready');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void (async () => {
      await subscription.stop();
      await nc.drain();
      process.exit(0);
    })();
  });
}
