// The clinic's handler for PatientService.Admit, and what it publishes.
// It receives the request with patient_name and scan opened (by @fle/boundary)
// and returns a response whose record_id the boundary seals; after admitting,
// it publishes PatientAdmitted with patient_name sealed (by @fle/events).
import { createHash } from 'node:crypto';
import type { Handler } from '@fle/boundary';
import type { EventPublisher, EventType } from '@fle/events';
import type { AdmitRequest, AdmitResponse, PatientAdmitted } from './gen/clinic/v1/clinic.js';
import { ADMISSIONS_SUBJECT } from './schema.js';

export interface AdmitDeps {
  readonly events: EventPublisher;
  readonly admitted: EventType<PatientAdmitted>;
}

export function createAdmitHandler(deps: AdmitDeps): Handler<AdmitRequest, AdmitResponse> {
  return async (req, ctx) => {
    if (req.patientName.trim() === '') throw Object.assign(new Error('patient_name is required'), { code: 'BAD_REQUEST' });
    // The request's nonce names this admission: a redelivered request gets the
    // same record id and the same event id (JetStream drops the second copy).
    const recordId = `adm-${createHash('sha256').update(ctx.stamp.nonce).digest('hex').slice(0, 16)}`;
    await deps.events.publishToStream(deps.admitted, ADMISSIONS_SUBJECT(ctx.tenant), { tenant: ctx.tenant, patientName: req.patientName, ward: req.ward }, { msgId: recordId });
    ctx.logger.info({ tenant: ctx.tenant, ward: req.ward, scanBytes: req.scan.length }, 'patient admitted');
    return { tenant: ctx.tenant, recordId };
  };
}
