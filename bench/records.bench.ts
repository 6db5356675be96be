// records: the rewrap engine of @fle/records (fle records rewrap) over a NATS
// KV bucket of sealed records: a first pass that finds every record under an
// old key version and seals it again, then a second pass over the same bucket
// that finds every record current. The second pass is what a rerun after an
// interrupted rewrap pays for the records the first run already did (the
// rewrap keeps no checkpoint, docs/records.md "Resumable without a
// checkpoint"): it reads and decides, it neither opens nor writes.
//
// nats-server is real (@fle/testkit, mTLS, JetStream file storage); keys come
// from an in-memory KeyProvider. Records: fletest.records.v1.Dossier (7
// sensitive values: nested, repeated, map, bytes) in the `records` ring. Each
// round rewrites the bucket under the old version (untimed), then times both
// passes. Env FLE_RECORDS_BENCH_SCALE (default 1) scales the record count.
import { randomBytes } from 'node:crypto';
import { StaticKeyProvider } from '@fle/field-crypto';
import { rewrapRecords, SealedKv } from '@fle/records';
import { startNats } from '@fle/testkit';
import { median, type BenchSuite, type Row } from './lib.js';
import { loadAverage } from './support/proc-stats.js';
// The neutral fixture schema of @fle/records' own tests (fletest.records.v1).
import { codecFor, Dossiers, dossier, schema } from '../packages/records/test/fixtures/schema.js';

const SCALE = Number(process.env.FLE_RECORDS_BENCH_SCALE ?? 1);
const RECORDS = Math.max(200, Math.round(5000 * SCALE));
const ROUNDS = 3;
const CONCURRENCY = 16;
const BUCKET = 'bench_records';

const suite: BenchSuite = {
  description: 'fle records rewrap engine: a pass that rewraps every record beside a second pass that finds them current (what a rerun pays)',
  async run() {
    const loadBefore = loadAverage();
    const nats = await startNats({ tls: true, users: 'none' });
    const rows: Row[] = [];
    const first: number[] = [];
    const second: number[] = [];
    try {
      const nc = await nats.connect('processor');
      const js = nc.jetstream();
      const k1 = randomBytes(32);
      const k2 = randomBytes(32);
      const onV1 = new StaticKeyProvider([{ tenant: 'ten-a', ring: 'records', versions: [{ version: 1, key: k1 }] }]);
      const onV2 = new StaticKeyProvider([{ tenant: 'ten-a', ring: 'records', versions: [{ version: 1, key: k1 }, { version: 2, key: k2 }], primary: 2 }]);
      const store = await SealedKv.open(js, { bucket: BUCKET, type: Dossiers, schema, keys: onV1 });
      const values = Array.from({ length: RECORDS }, (_, i) => dossier('ten-a', i));
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = 0; i < RECORDS; i += 200) await Promise.all(values.slice(i, i + 200).map((v, j) => store.put(`ten-a.r${i + j}`, v)));
        let t0 = performance.now();
        const s1 = await rewrapRecords({ js, bucket: BUCKET, schema, keys: onV2, codecFor, concurrency: CONCURRENCY });
        first.push((performance.now() - t0) * 1e6 / s1.seen);
        if (s1.rewrapped !== RECORDS) throw new Error(`bench: first pass rewrapped ${s1.rewrapped} of ${RECORDS}`);
        t0 = performance.now();
        const s2 = await rewrapRecords({ js, bucket: BUCKET, schema, keys: onV2, codecFor, concurrency: CONCURRENCY });
        second.push((performance.now() - t0) * 1e6 / s2.seen);
        if (s2.current !== RECORDS) throw new Error(`bench: second pass found ${s2.current} of ${RECORDS} current`);
      }
      await nc.close();
    } finally {
      await nats.stop();
    }
    const row = (name: string, s: number[], relative?: string): Row => {
      const ns = median(s);
      return { group: 'rewrap', name, nsPerOp: ns, opsPerSec: 1e9 / ns, spread: median(s.map((x) => Math.abs(x - ns))) / ns, ...(relative ? { relative } : {}) };
    };
    const ratio = median(first.map((f, i) => f / second[i]!));
    rows.push(row('first pass (every record rewrapped)', first), row('second pass (every record current)', second, `${ratio.toFixed(1)}x faster`));
    const loadAfter = loadAverage();
    return {
      rows,
      targets: [],
      notes: [
        `${RECORDS} records per pass, ${ROUNDS} rounds, concurrency ${CONCURRENCY}; load average (1 min) ${loadBefore.load1.toFixed(2)} before, ${loadAfter.load1.toFixed(2)} after`,
        'time/op = wall time of a pass ÷ records; "x faster" = median over rounds of first ÷ second pass time',
      ],
    };
  },
};

export default suite;
