// The clinic's schema at run time: the Buf image `npm run schema` builds
// (buf build -o schema.binpb), or, when it is not built, the .proto folder.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type protobuf from 'protobufjs';
import { loadSchema } from '@fle/schema';

export const CLINIC_PROTO_DIR = fileURLToPath(new URL('../proto', import.meta.url));
export const CLINIC_IMAGE = fileURLToPath(new URL('../schema.binpb', import.meta.url));

export const ADMIT_METHOD = '/clinic.v1.PatientService/Admit';
export const PATIENT_ADMITTED = 'clinic.v1.PatientAdmitted';
/** Where admissions are published (one subject per tenant) and the stream that keeps them. */
export const ADMISSIONS_SUBJECT = (tenant: string): string => `clinic.admissions.${tenant}`;
export const ADMISSIONS_STREAM = 'CLINIC_ADMISSIONS';

/** `image` when given, else the built image when present, else the .proto folder. */
export function clinicSchema(image?: string): protobuf.Root {
  if (image) return loadSchema({ image });
  return existsSync(CLINIC_IMAGE) ? loadSchema({ image: CLINIC_IMAGE }) : loadSchema({ protoRoots: [CLINIC_PROTO_DIR] });
}
