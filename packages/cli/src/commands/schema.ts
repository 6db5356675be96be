// `fle schema check --schema <image | proto folder>`: load a team's schema the
// way the gateway, the boundary and the client SDK do (loadSchema), compile its
// fle marks (compileSchema), and print what fle will make of it: services and
// methods, and each message's sensitive paths (envelope-v1 §3) with their key
// rings. A schema fle cannot use is one line on stderr and exit 1, the same
// message a service would stop with.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type protobuf from 'protobufjs';
import type { CompiledSchema } from '@fle/field-crypto';
// protobufjs, @fle/schema and field-crypto are imported when the command runs.

interface CheckFlags {
  schema: string[];
  json?: boolean;
}

export interface SchemaReport {
  readonly services: ReadonlyArray<{
    readonly name: string;
    readonly methods: ReadonlyArray<{
      readonly name: string;
      readonly path: string;
      readonly requestType: string;
      readonly responseType: string;
      readonly streaming: boolean;
      /** The request names a tenant field: the gateway can route it. */
      readonly routable: boolean;
    }>;
  }>;
  readonly messages: ReadonlyArray<{
    readonly name: string;
    readonly tenantField: string | undefined;
    readonly rings: readonly string[];
    readonly sensitivePaths: ReadonlyArray<{ readonly path: string; readonly field: string; readonly ring: string; readonly type: 'string' | 'bytes'; readonly shape: string }>;
  }>;
}

/** `--schema` values → loadSchema's source: one image file, or one or more .proto folders. */
export function schemaSourceOf(paths: readonly string[]): { image: string } | { protoRoots: string[] } {
  const abs = paths.map((p) => resolve(p));
  const kinds = abs.map((p) => {
    try {
      return statSync(p).isDirectory() ? 'dir' : 'file';
    } catch {
      throw new Error(`--schema: no such file or folder ${p}`);
    }
  });
  if (kinds.every((k) => k === 'dir')) return { protoRoots: abs };
  if (abs.length === 1) return { image: abs[0]! };
  throw new Error('--schema: give one image file (buf build -o schema.binpb) or one or more folders of .proto files');
}

/** Loads and compiles the schema; throws one-line errors (SchemaLoadError, SchemaError). */
export async function checkSchema(paths: readonly string[]): Promise<{ root: protobuf.Root; compiled: CompiledSchema; report: SchemaReport }> {
  const { loadSchema, serviceNames } = await import('@fle/schema');
  const { compileSchema } = await import('@fle/field-crypto');
  const root = loadSchema(schemaSourceOf(paths));
  const compiled = compileSchema(root);
  const services = serviceNames(root).map((name) => {
    const svc = root.lookupService(name);
    return {
      name,
      methods: svc.methodsArray.map((m) => {
        m.resolve();
        const requestType = m.resolvedRequestType!.fullName.slice(1);
        return {
          name: m.name,
          path: `/${name}/${m.name}`,
          requestType,
          responseType: m.resolvedResponseType!.fullName.slice(1),
          streaming: m.requestStream === true || m.responseStream === true,
          routable: compiled.plan(requestType).tenantProp !== undefined,
        };
      }),
    };
  });
  const messages = [...compiled.rootTypes].sort().map((name) => {
    const plan = compiled.plan(name);
    return {
      name,
      tenantField: plan.tenantField,
      rings: [...plan.rings],
      sensitivePaths: plan.sensitivePaths.map((p) => ({ path: p.path, field: p.fieldName, ring: p.ring, type: p.valueType, shape: p.shape })),
    };
  });
  return { root, compiled, report: { services, messages } };
}

export function reportLines(report: SchemaReport): string[] {
  const lines: string[] = [];
  lines.push(`services: ${report.services.length}`);
  for (const s of report.services) {
    lines.push(`  ${s.name}`);
    for (const m of s.methods) {
      const notes = [m.streaming ? 'streaming: not fronted by the gateway' : '', !m.streaming && !m.routable ? 'no tenant field: not routable' : ''].filter(Boolean);
      lines.push(`    ${m.name}(${m.requestType}) returns (${m.responseType})${notes.length ? `  [${notes.join('; ')}]` : ''}`);
    }
  }
  lines.push(`messages with sensitive fields: ${report.messages.length}`);
  for (const m of report.messages) {
    lines.push(`  ${m.name}  tenant field ${m.tenantField ?? '-'}  rings ${m.rings.join(', ')}`);
    for (const p of m.sensitivePaths) lines.push(`    ${p.path.padEnd(12)} ${p.field}  ${p.type}${p.shape === 'singular' ? '' : ` ${p.shape}`}  ring ${p.ring}`);
  }
  return lines;
}

export function registerSchemaCommands(program: Command): void {
  const schema = program.command('schema').description("a team's schema as fle reads it (a Buf image or .proto folders)");
  schema
    .command('check')
    .description('load and compile a schema; print its services, methods and every sensitive path with its key ring')
    .requiredOption('--schema <path...>', 'a Buf image / FileDescriptorSet (buf build -o schema.binpb) or folder(s) of .proto files')
    .option('--json', 'print the report as JSON')
    .action(async (f: CheckFlags) => {
      const { report } = await checkSchema(f.schema);
      const lines = f.json ? [JSON.stringify(report)] : reportLines(report);
      for (const l of lines) process.stdout.write(`${l}\n`);
    });
}
