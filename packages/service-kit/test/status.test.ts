import { Metadata, status } from '@grpc/grpc-js';
import { DecryptionError, EnvelopeFormatError, PlaintextInSensitiveFieldError, SchemaError, UnknownKeyVersionError } from '@fle/field-crypto';
import { describe, expect, it } from 'vitest';
import { ERROR_CODE_METADATA, MissingStampError, RemoteError, ReplayError, RoutingError, classifyError, decodeErrorPayload, encodeErrorPayload, errorPayloadOf, isTransient, toServiceError } from '../src/mod.js';

describe('classifyError: the one mapping', () => {
  const cases: Array<[unknown, status, boolean, string]> = [
    [new EnvelopeFormatError('bad version', '5.1'), status.INVALID_ARGUMENT, true, 'envelope_format'],
    [new PlaintextInSensitiveFieldError('6', 'national_id'), status.INVALID_ARGUMENT, true, 'plaintext_in_sensitive_field'],
    [new DecryptionError('6'), status.PERMISSION_DENIED, true, 'decryption_failed'],
    [new UnknownKeyVersionError('t1', 'pci', 9), status.FAILED_PRECONDITION, true, 'unknown_key_version'],
    [new SchemaError('x'), status.FAILED_PRECONDITION, true, 'schema'],
    [new ReplayError('REPLAY_NONCE', 'used'), status.PERMISSION_DENIED, true, 'replay_nonce'],
    [new ReplayError('REPLAY_TIMESTAMP', 'old'), status.PERMISSION_DENIED, true, 'replay_timestamp'],
    [new MissingStampError(), status.INVALID_ARGUMENT, true, 'missing_stamp'],
    [new RoutingError('INVALID_TENANT', 'bad'), status.INVALID_ARGUMENT, true, 'invalid_tenant'],
    [new RoutingError('UNKNOWN_METHOD', 'no'), status.UNIMPLEMENTED, true, 'unknown_method'],
    [new RoutingError('MESSAGE_TOO_LARGE', 'big'), status.RESOURCE_EXHAUSTED, true, 'message_too_large'],
    [new RoutingError('UPSTREAM_UNAVAILABLE', 'down'), status.UNAVAILABLE, false, 'upstream_unavailable'],
    [Object.assign(new Error('keystore down'), { code: 'KEYSTORE_UNAVAILABLE' }), status.UNAVAILABLE, false, 'keystore_unavailable'],
    [new RemoteError('DECRYPTION_FAILED', 'decryption failed'), status.PERMISSION_DENIED, true, 'decryption_failed'],
  ];
  it.each(cases)('%s', (err, grpcStatus, permanent, reason) => {
    const c = classifyError(err);
    expect(c.grpcStatus).toBe(grpcStatus);
    expect(c.permanent).toBe(permanent);
    expect(c.reason).toBe(reason);
    expect(isTransient(err)).toBe(!permanent);
  });

  it('never passes an untyped message to the caller', () => {
    const se = toServiceError(new Error('card 4111111111111111 broke'));
    expect(se.code).toBe(status.INTERNAL);
    expect(se.details).toBe('internal error');
    expect(se.metadata.get(ERROR_CODE_METADATA)).toEqual(['INTERNAL']);
    expect(JSON.stringify(se)).not.toContain('4111');
  });

  it('keeps the typed code across an upstream gRPC hop', () => {
    const md = new Metadata();
    md.set(ERROR_CODE_METADATA, 'REPLAY_NONCE');
    const upstream = Object.assign(new Error('7 PERMISSION_DENIED: request nonce already used'), { code: status.PERMISSION_DENIED, details: 'request nonce already used', metadata: md });
    const c = classifyError(upstream);
    expect(c).toMatchObject({ code: 'REPLAY_NONCE', grpcStatus: status.PERMISSION_DENIED, message: 'request nonce already used', permanent: true });
    const bare = Object.assign(new Error('14 UNAVAILABLE: x'), { code: status.UNAVAILABLE, details: 'No connection established', metadata: new Metadata() });
    expect(classifyError(bare)).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', grpcStatus: status.UNAVAILABLE, permanent: false });
  });

  it('round-trips the NATS error payload to the same status', () => {
    const err = new PlaintextInSensitiveFieldError('5.1', 'number');
    const back = decodeErrorPayload(encodeErrorPayload(errorPayloadOf(err)));
    expect(classifyError(back)).toMatchObject({ code: 'PLAINTEXT_IN_SENSITIVE_FIELD', grpcStatus: status.INVALID_ARGUMENT, message: err.message });
    expect(classifyError(decodeErrorPayload(new TextEncoder().encode('not json')))).toMatchObject({ code: 'INTERNAL', grpcStatus: status.INTERNAL });
  });
});
