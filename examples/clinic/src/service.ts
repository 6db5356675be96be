// The clinic's own service process: @fle/boundary embedded in it, so its own
// handler opens patient_name and scan at its own boundary. It serves Admit
// over core NATS (queue group) and JetStream (durable pull consumer), both
// behind fle's gateway, and publishes PatientAdmitted as a sealed event.
//   node --conditions=@fle/source --import tsx examples/clinic/src/service.ts --config clinic.yaml
import { writeFileSync } from 'node:fs';
import { connect } from 'nats';
import { Boundary } from '@fle/boundary';
import { EventPublisher, eventType } from '@fle/events';
import { compileSchema } from '@fle/field-crypto';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { fleConnectionOptions } from '@fle/nats-setup';
import { messageCodec } from '@fle/schema';
import { createAdmitHandler } from './admit.js';
import { readClinicConfig } from './config.js';
import type { PatientAdmitted } from './gen/clinic/v1/clinic.js';
import { ADMISSIONS_STREAM, ADMIT_METHOD, PATIENT_ADMITTED, clinicSchema } from './schema.js';

const config = readClinicConfig();
const schema = clinicSchema(config.schema);
const keys = new KeystoreKeyProvider({ address: config.keystore.address, tls: config.tls });
const nc = await connect(fleConnectionOptions({ servers: config.nats.servers, tls: config.tls, identity: config.identity, name: 'clinic' }));

// The admissions stream: bounded, and long enough a dedupe window for redeliveries.
const jsm = await nc.jetstreamManager();
await jsm.streams.add({ name: ADMISSIONS_STREAM, subjects: ['clinic.admissions.>'], max_bytes: 64 * 2 ** 20, max_msgs: 100_000, duplicate_window: 120e9 }).catch(async (err: Error) => {
  if (!/already in use/.test(err.message)) throw err;
});

const events = new EventPublisher({ nc, schema: compileSchema(schema), keys });
const admitted = eventType<PatientAdmitted>(PATIENT_ADMITTED, messageCodec<PatientAdmitted>(schema, PATIENT_ADMITTED));
const boundary = await Boundary.create({ schema, keys, nc, handlers: { [ADMIT_METHOD]: createAdmitHandler({ events, admitted }) } });
await boundary.serveCore({ queueGroup: 'clinic' });
await boundary.serveJetStream({ durable: 'clinic' });
if (config.portsFile) writeFileSync(config.portsFile, JSON.stringify({ grpc: 0, metrics: 0, pid: process.pid }));
console.log('clinic service ready');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void (async () => {
      await boundary.stop();
      await nc.drain();
      keys.close();
      process.exit(0);
    })();
  });
}
