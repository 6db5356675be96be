// The audit log as a hash chain (issue 18 item 5): removed, edited, inserted
// and reordered lines are found, and where.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretKey } from '@fle/field-crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { AUDIT_GENESIS, FileAuditLog, auditKeyFromMaster, readCheckpoint, verifyAuditFile, verifyAuditText, type AuditEntry } from '../src/audit.js';
import { AuditChainError } from '../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'fle-audit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const master = new SecretKey(new Uint8Array(32).fill(5));
const macKey = auditKeyFromMaster(master);

const entry = (i: number): AuditEntry => ({
  identity: 'spiffe://fle.local/processor',
  action: 'GetPrimaryKey',
  tenant: 'acme',
  ring: 'default',
  version: i,
  generation: i,
  allowed: true,
  reason: 'fetch[0]',
  outcome: 'OK',
});

async function writeLog(count: number): Promise<{ path: string; lines: string[] }> {
  const path = join(root, `a${n++}`, 'audit.jsonl');
  const log = await FileAuditLog.open(path, { macKey });
  for (let i = 1; i <= count; i++) log.record(entry(i));
  log.close();
  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return { path, lines: text.slice(0, -1).split('\n') };
}

const joinLines = (lines: string[]): string => `${lines.join('\n')}\n`;

describe('audit hash chain', () => {
  it('each line carries seq, the hash of the previous line and a mac; an intact log verifies', async () => {
    const { path, lines } = await writeLog(5);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => p.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(parsed[0]!.prev).toBe(AUDIT_GENESIS);
    for (let i = 1; i < lines.length; i++) expect(parsed[i]!.prev).toBe(createHash('sha256').update(lines[i - 1]!).digest('hex'));
    expect(Object.keys(parsed[0]!)).toEqual(['seq', 'time', 'identity', 'action', 'tenant', 'ring', 'version', 'generation', 'allowed', 'reason', 'outcome', 'prev', 'mac']);
    expect(await verifyAuditFile(path, { macKey })).toMatchObject({ lines: 5, lastSeq: 5, macsChecked: true });
    expect((await verifyAuditFile(path, { macKey })).break).toBeUndefined();
    expect(verifyAuditText(joinLines(lines)).break).toBeUndefined();
  });

  it('a reopened log continues the chain', async () => {
    const { path } = await writeLog(3);
    const again = await FileAuditLog.open(path, { macKey });
    again.record(entry(4));
    again.close();
    const r = await verifyAuditFile(path, { macKey });
    expect(r).toMatchObject({ lines: 4, lastSeq: 4 });
    expect(r.break).toBeUndefined();
  });

  it('a removed line is found at the line after the gap', async () => {
    const { lines } = await writeLog(5);
    const cut = [...lines.slice(0, 2), ...lines.slice(3)];
    expect(verifyAuditText(joinLines(cut)).break).toEqual({ line: 3, problem: expect.stringMatching(/^prev is not the hash of line 2/) });
    // the first line removed
    expect(verifyAuditText(joinLines(lines.slice(1))).break).toEqual({ line: 1, problem: expect.stringMatching(/genesis/) });
  });

  it('an edited line is found: by the next line without the key, at the line itself with it', async () => {
    const { lines } = await writeLog(5);
    const edited = [...lines];
    edited[1] = edited[1]!.replace('"allowed":true', '"allowed":false');
    expect(edited[1]).not.toBe(lines[1]);
    expect(verifyAuditText(joinLines(edited)).break).toEqual({ line: 3, problem: expect.stringMatching(/line 2 was edited/) });
    expect(verifyAuditText(joinLines(edited), { macKey }).break).toEqual({ line: 2, problem: expect.stringMatching(/mac does not verify/) });
  });

  it('reordered lines are found', async () => {
    const { lines } = await writeLog(5);
    const swapped = [lines[0]!, lines[2]!, lines[1]!, lines[3]!, lines[4]!];
    expect(verifyAuditText(joinLines(swapped)).break?.line).toBe(2);
  });

  it('an inserted line is found', async () => {
    const { lines } = await writeLog(3);
    const forged = JSON.stringify({ ...JSON.parse(lines[1]!), action: 'DestroyKeyVersion' });
    expect(verifyAuditText(joinLines([lines[0]!, lines[1]!, forged, lines[2]!])).break?.line).toBe(3);
  });

  it('a chain rewritten from an edit on passes the hash check but not the mac check', async () => {
    const { lines } = await writeLog(4);
    // What an attacker without the master key can do: edit line 2 and recompute every prev after it.
    const rewritten: string[] = [lines[0]!];
    let prev = createHash('sha256').update(lines[0]!).digest('hex');
    for (let i = 1; i < lines.length; i++) {
      const o = JSON.parse(lines[i]!) as Record<string, unknown>;
      if (i === 1) o.reason = 'nothing to see';
      o.prev = prev;
      const text = JSON.stringify(o);
      rewritten.push(text);
      prev = createHash('sha256').update(text).digest('hex');
    }
    expect(verifyAuditText(joinLines(rewritten)).break).toBeUndefined();
    expect(verifyAuditText(joinLines(rewritten), { macKey }).break).toEqual({ line: 2, problem: expect.stringMatching(/mac does not verify/) });
    expect(verifyAuditText(joinLines(lines), { macKey: auditKeyFromMaster(new SecretKey(new Uint8Array(32).fill(6)) ) }).break?.line).toBe(1);
  });

  it('a torn last line and a line that is not JSON are breaks', async () => {
    const { lines } = await writeLog(2);
    expect(verifyAuditText(`${joinLines(lines)}{"seq":3`).break).toEqual({ line: 3, problem: expect.stringMatching(/incomplete/) });
    expect(verifyAuditText(joinLines([lines[0]!, 'hello', lines[1]!])).break).toEqual({ line: 2, problem: 'not a JSON line' });
  });

  it('older lines without chain fields are accepted only as a prefix; the chain continues after them', async () => {
    const path = join(root, `legacy${n++}`, 'audit.jsonl');
    const old = (i: number): string => JSON.stringify({ time: '2024-01-01T00:00:00.000Z', ...entry(i) });
    const log0 = await FileAuditLog.open(path, { macKey }); // creates the folder
    log0.close();
    writeFileSync(path, joinLines([old(1), old(2)]));
    const log = await FileAuditLog.open(path, { macKey });
    log.record(entry(3));
    log.close();
    const lines = readFileSync(path, 'utf8').slice(0, -1).split('\n');
    expect(JSON.parse(lines[2]!)).toMatchObject({ seq: 3, prev: createHash('sha256').update(lines[1]!).digest('hex') });
    expect(await verifyAuditFile(path, { macKey })).toMatchObject({ lines: 3, legacyLines: 2, lastSeq: 3 });
    expect(verifyAuditText(joinLines([...lines, old(4)])).break).toEqual({ line: 4, problem: expect.stringMatching(/no seq\/prev after chained lines/) });
  });

  it('the keystore refuses to append to a broken chain', async () => {
    const { path, lines } = await writeLog(3);
    writeFileSync(path, joinLines([lines[0]!, lines[2]!]));
    await expect(FileAuditLog.open(path, { macKey })).rejects.toBeInstanceOf(AuditChainError);
    await expect(FileAuditLog.open(path, { macKey })).rejects.toThrow(/is broken at line 2 \(prev is not the hash of line 1.*fle keystore audit verify/);
  });
});

describe('audit checkpoints', () => {
  const anchorState = (start: Record<string, number> = {}) => {
    const gens: Record<string, number> = { ...start };
    return { gens, export: () => ({ ...gens }), import: (g: Record<string, number>) => Object.assign(gens, g) };
  };

  async function checkpointed(count: number): Promise<{ path: string; gens: Record<string, number> }> {
    const path = join(root, `cp${n++}`, 'audit.jsonl');
    const state = anchorState({ 'acme/default': 7 });
    const log = await FileAuditLog.open(path, { macKey, anchor: state });
    for (let i = 1; i <= count; i++) log.record(entry(i));
    log.close(); // writes the checkpoint
    return { path, gens: state.gens };
  }

  it('a reopened log starts from its checkpoint: the anchor comes back, only later lines are read', async () => {
    const { path } = await checkpointed(4);
    expect(readCheckpoint(path, macKey)).toMatchObject({ seq: 4, generations: { 'acme/default': 7 } });
    const seen: number[] = [];
    const state = anchorState();
    const log = await FileAuditLog.open(path, { macKey, anchor: state, onLine: (l) => seen.push(l.seq) });
    expect(seen).toEqual([]);
    expect(state.gens).toEqual({ 'acme/default': 7 });
    log.record(entry(5));
    log.close();
    const again: number[] = [];
    (await FileAuditLog.open(path, { macKey, anchor: anchorState(), onLine: (l) => again.push(l.seq) })).close();
    expect(again).toEqual([]); // checkpointed at close again
    expect((await verifyAuditFile(path, { macKey })).lastSeq).toBe(5); // the whole file still verifies
  });

  it('lines after the checkpoint are verified at open', async () => {
    const { path } = await checkpointed(2);
    const log = await FileAuditLog.open(path, { macKey }); // no anchor: appends without checkpointing
    log.record(entry(3));
    log.record(entry(4));
    log.close();
    const lines = readFileSync(path, 'utf8').slice(0, -1).split('\n');
    writeFileSync(path, joinLines([...lines.slice(0, 3), lines[3]!.replace('"version":4', '"version":5')]));
    await expect(FileAuditLog.open(path, { macKey, anchor: anchorState() })).rejects.toThrow(/broken at line 4 \(mac does not verify/);
  });

  it('a checkpoint that does not verify, or a log cut or edited before it, is refused', async () => {
    const edited = await checkpointed(3);
    const cpPath = `${edited.path}.checkpoint`;
    const cp = JSON.parse(readFileSync(cpPath, 'utf8')) as { body: string; mac: string };
    writeFileSync(cpPath, JSON.stringify({ ...cp, body: cp.body.replace('"acme/default":7', '"acme/default":1') }));
    await expect(FileAuditLog.open(edited.path, { macKey, anchor: anchorState() })).rejects.toThrow(/checkpoint .* does not verify under this master key/);

    const cut = await checkpointed(3);
    const lines = readFileSync(cut.path, 'utf8').slice(0, -1).split('\n');
    writeFileSync(cut.path, joinLines(lines.slice(0, 2)));
    await expect(FileAuditLog.open(cut.path, { macKey, anchor: anchorState() })).rejects.toThrow(/shorter than its checkpoint at line 3: it was cut/);

    const changed = await checkpointed(3);
    const ls = readFileSync(changed.path, 'utf8').slice(0, -1).split('\n');
    writeFileSync(changed.path, joinLines([...ls.slice(0, 2), ls[2]!.replace('"reason":"fetch[0]"', '"reason":"fetch[1]"')]));
    await expect(FileAuditLog.open(changed.path, { macKey, anchor: anchorState() })).rejects.toThrow(/does not match its checkpoint at line 3/);
  });

  it('an edit further before the checkpoint is left to `audit verify`, which reads the whole file', async () => {
    const { path } = await checkpointed(3);
    const ls = readFileSync(path, 'utf8').slice(0, -1).split('\n');
    writeFileSync(path, joinLines([ls[0]!.replace('"reason":"fetch[0]"', '"reason":"fetch[1]"'), ...ls.slice(1)]));
    (await FileAuditLog.open(path, { macKey, anchor: anchorState() })).close();
    expect((await verifyAuditFile(path, { macKey })).break).toEqual({ line: 1, problem: expect.stringMatching(/mac does not verify/) });
  });
});
