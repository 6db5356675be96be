import { compileSchema } from '@fle/field-crypto';
import { describe, expect, it } from 'vitest';
import { FIXTURE_METHOD, FIXTURE_REQUEST, fixtureSchema } from '../src/mod.js';

describe('fixtureSchema', () => {
  it('loads the neutral test service with its sensitive fields', () => {
    const root = fixtureSchema();
    const [, service, method] = FIXTURE_METHOD.split('/');
    expect(root.lookupService(service!).methods[method!]!.requestType).toBe('SubmitRequest');
    const paths = compileSchema(root).plan(FIXTURE_REQUEST).sensitivePaths.map((p) => p.path);
    expect(paths).toContain('5.1');
    expect(paths.length).toBeGreaterThanOrEqual(9);
  });
});
