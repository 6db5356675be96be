// A small reader for deploy/docker/Dockerfile: instructions with their stage,
// continuation lines joined, comments and parser directives dropped.
import { readText, repoPath } from './repo.js';

export interface Instruction {
  keyword: string;
  args: string;
  /** Name of the stage (`FROM … AS name`) the instruction belongs to. */
  stage: string;
  line: number;
}

export const dockerfilePath = repoPath('deploy/docker/Dockerfile');

export function dockerfileInstructions(text = readText(dockerfilePath)): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let stage = '';
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.trimEnd().endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue; // comment lines inside a continuation are skipped by docker too
      line = line.trimEnd().slice(0, -1) + ' ' + next.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse`);
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (keyword === 'FROM') stage = /\s+AS\s+(\S+)\s*$/i.exec(args)?.[1] ?? '';
    out.push({ keyword, args, stage, line: start + 1 });
  }
  return out;
}

export function dockerfileTargets(): string[] {
  return dockerfileInstructions()
    .filter((i) => i.keyword === 'FROM')
    .map((i) => i.stage)
    .filter((s) => s !== '');
}

/** `["a", "b"]` (exec form) to its list; shell form is refused so commands stay explicit. */
export function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) throw new Error(`not exec form: ${args}`);
  return parsed;
}

/** The sources and destination of a COPY/ADD, without its `--flag=…` options. */
export function copyOperands(args: string): { flags: string[]; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  return { flags, sources: rest.slice(0, -1), dest: rest[rest.length - 1]! };
}
