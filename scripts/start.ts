// `npm start`: the product's main job. Grows into the full local stack
// (certificates, nats-server, keystore, processor, gateway, demo client).
import { schemaRoot } from '@fle/schema';

const root = schemaRoot();
const type = root.lookupType('acme.payments.v1.AuthorizeRequest');
const sensitive = type.fieldsArray.filter((f) => f.options?.['(fle.v1.sensitive)'] === true).map((f) => f.name);
console.log(`fle: ${type.fullName.slice(1)} has sensitive fields: ${sensitive.join(', ')}`);
