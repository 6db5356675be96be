// loadSchema: a team's schema from a Buf image and from .proto roots gives the
// same reflection root, with fle's options, that compileSchema accepts; bad
// input is one clear SchemaLoadError.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileSchema } from '@fle/field-crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLE_PROTO_DIR, loadSchema, messageCodec, SchemaLoadError, serviceDefinition, serviceNames } from '../src/mod.js';

const teamProto = fileURLToPath(new URL('./fixtures/team', import.meta.url));
const repo = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const buf = join(repo, 'node_modules/.bin/buf');

let dir: string;
let image: string;

beforeAll(() => {
  // A team's project: its protos in proto/, fle's options from the package
  // folder (node_modules/@fle/schema/proto), one buf.yaml naming both.
  dir = mkdtempSync(join(tmpdir(), 'fle-schema-'));
  cpSync(teamProto, join(dir, 'proto'), { recursive: true });
  cpSync(FLE_PROTO_DIR, join(dir, 'node_modules/@fle/schema/proto'), { recursive: true });
  writeFileSync(join(dir, 'buf.yaml'), 'version: v2\nmodules:\n  - path: proto\n  - path: node_modules/@fle/schema/proto\n');
  image = join(dir, 'schema.binpb');
  execFileSync(buf, ['build', '-o', image], { cwd: dir, stdio: 'pipe' });
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadSchema', () => {
  it('gives the same root from a Buf image as from the .proto roots', () => {
    const fromImage = loadSchema({ image });
    const fromRoots = loadSchema({ protoRoots: [teamProto] });
    // Type references are absolute in one and relative in the other: compare what they resolve to.
    const pick = (root: ReturnType<typeof loadSchema>) =>
      ['teamrec.v1.FileRequest', 'teamrec.v1.Contact', 'teamrec.v1.FileResponse'].map((name) => {
        const t = root.lookupType(name);
        return {
          options: t.options,
          oneofs: t.oneofsArray.map((o) => [o.name, o.oneof]),
          fields: t.fieldsArray.map((f) => [f.name, f.id, f.type.replace(/^\.?(teamrec\.v1\.)?/, ''), f.repeated, f.map, f.packed, f.options, f.resolvedType?.fullName ?? null]),
        };
      });
    expect(pick(fromImage)).toEqual(pick(fromRoots));
    expect(pick(fromImage)[0]!.fields.length).toBe(11);
    expect(serviceNames(fromImage)).toEqual(['teamrec.v1.RecordsService']);
  });

  it('keeps the fle.v1 options so compileSchema finds every sensitive field', () => {
    const paths = (root: ReturnType<typeof loadSchema>) =>
      compileSchema(root).plan('teamrec.v1.FileRequest').sensitivePaths.map((p) => `${p.path}:${p.ring}`).sort();
    const schema = compileSchema(loadSchema({ image }));
    expect(paths(loadSchema({ image }))).toEqual(['2:default', '3.1:contact', '4[<key>]:default', '5[<key>].1:contact', '8:default', '9:default'].sort());
    expect(paths(loadSchema({ image }))).toEqual(paths(loadSchema({ protoRoots: [teamProto] })));
    expect(schema.plan('teamrec.v1.FileRequest').tenantField).toBe('org_id');
  });

  it('names the .proto file of each message (for load-time errors)', () => {
    const root = loadSchema({ image });
    expect(root.lookupType('teamrec.v1.FileRequest').filename).toBe('teamrec/v1/records.proto');
  });

  it('encodes and decodes by reflection, with camelCase properties and int64 as strings', () => {
    const root = loadSchema({ image });
    const codec = messageCodec(root, 'teamrec.v1.FileRequest');
    const msg = codec.decode(codec.encode({ orgId: 'o1', xRay: new Uint8Array([1, 2]), sizeBytes: '9007199254740993', notes: { a: 'b' }, passport: 'P' }));
    expect(msg).toMatchObject({ orgId: 'o1', sizeBytes: '9007199254740993', notes: { a: 'b' }, passport: 'P', contacts: [] });
    expect(Array.from(msg.xRay as Uint8Array)).toEqual([1, 2]);
    const def = serviceDefinition(root, 'teamrec.v1.RecordsService');
    expect(def.File!.path).toBe('/teamrec.v1.RecordsService/File');
    expect(def.File!.requestType).toBe('teamrec.v1.FileRequest');
  });

  it('refuses a truncated string or bytes value from a Node Buffer too (protobufjs clamps it there)', () => {
    const codec = messageCodec(loadSchema({ image }), 'teamrec.v1.FileRequest');
    const good = Buffer.from(codec.encode({ orgId: 'org-1', passport: 'P123' }));
    expect(codec.decode(good)).toMatchObject({ orgId: 'org-1', passport: 'P123' });
    for (const cut of [good.subarray(0, good.length - 1), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])]) {
      expect(() => codec.decode(cut)).toThrow(/index out of range/);
      expect(() => codec.decode(new Uint8Array(cut))).toThrow(/index out of range/);
    }
  });

  it('refuses a file that is not a descriptor set, in one line naming the file', () => {
    const junk = join(dir, 'junk.binpb');
    writeFileSync(junk, 'this is not protobuf\n\xff\xff');
    expect(() => loadSchema({ image: junk })).toThrow(SchemaLoadError);
    expect(() => loadSchema({ image: junk })).toThrow(/junk\.binpb is not a Buf image or FileDescriptorSet/);
    expect(() => loadSchema({ image: join(dir, 'missing.binpb') })).toThrow(/cannot read image .*missing\.binpb: ENOENT/);
  });

  it('refuses a missing proto root, an empty source and both sources at once', () => {
    expect(() => loadSchema({ protoRoots: [join(dir, 'nope')] })).toThrow(/proto root .*nope is not a folder/);
    expect(() => loadSchema({})).toThrow(SchemaLoadError);
    expect(() => loadSchema({ image, protoRoots: [teamProto] })).toThrow(/not both/);
  });
});
