// @fle/records: records at rest, sealed for their identity (docs/records.md).
export * from './errors.js';
export { recordType, reflectionCodec, type MessageCodec, type RecordType } from './record-type.js';
export {
  assertRecordKey,
  assertStoreName,
  decodeSealedRecord,
  encodeSealedRecord,
  openRecord,
  recordContext,
  sealRecord,
  type DecodedRecord,
  type RecordId,
} from './sealed-record.js';
export { envelopeUses, type EnvelopeUse } from './envelope-uses.js';
export { SealedKv, isRevisionConflict, type SealedEntry, type SealedKvOpenOptions, type SealedKvOptions } from './sealed-kv.js';
export { scanBucket, type ScanOptions, type ScannedEntry, type ScanStart } from './scan.js';
export {
  RewrapInterruptedError,
  recordsUsingVersion,
  rewrapRecords,
  type RecordScanOptions,
  type RewrapCounts,
  type RewrapFailure,
  type RewrapOptions,
  type RewrapProgress,
  type RewrapSummary,
  type VersionUse,
  type VersionUseOptions,
} from './rewrap.js';
