// `fle keystore serve | init | backup | split-master | restore | seal-records | audit verify`:
// running the reference keystore, recovering it (DESIGN.md "Keys": losing the
// master key must not mean losing the data) and checking its audit log. Nothing
// here prints a key; the master key leaves this process only as recovery
// shares, and only when asked for.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import {
  MasterKeyError,
  combineShares,
  configPathFrom,
  loadConfig,
  loadMasterKey,
  masterKeyId,
  openBackupContents,
  openKeystoreState,
  readBackupFile,
  readMasterKeyFile,
  restoreRecords,
  serveKeystore,
  splitMasterKey,
  auditKeyFromMaster,
  verifyAuditFile,
  writeBackup,
  type KeystoreConfig,
} from '@fle/keystore';

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function integer(value: string, name: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function config(flag: string | undefined): KeystoreConfig {
  return loadConfig(configPathFrom(flag));
}

/** Writes shares to stdout, or one 0600 file per share into `dir`. */
function emitShares(shares: string[], dir: string | undefined, json: boolean): void {
  if (dir) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const files = shares.map((s, i) => {
      const file = join(dir, `share-${i + 1}.txt`);
      writeFileSync(file, `${s}\n`, { mode: 0o600, flag: 'wx' });
      return file;
    });
    if (json) out(JSON.stringify({ files }));
    else for (const f of files) out(`wrote ${f}`);
    return;
  }
  if (json) out(JSON.stringify({ shares }));
  else for (const s of shares) out(s);
}

export function registerKeystoreCommands(program: Command): void {
  const keystore = program.command('keystore').description('run the reference keystore; back it up and recover it');

  keystore
    .command('serve')
    .description('run the keystore until SIGTERM/SIGINT (SIGHUP reloads the policy)')
    .option('--config <file>', 'keystore YAML config (default: env FLE_CONFIG)')
    .action(async (opts: { config?: string }) => {
      await serveKeystore(opts.config);
    });

  keystore
    .command('init')
    .description("create the config's master key file (32 random bytes, mode 0600) if it does not exist; optionally split it")
    .option('--config <file>', 'keystore YAML config (default: env FLE_CONFIG)')
    .option('--shares <n>', 'also split the master key into N recovery shares')
    .option('--threshold <t>', 'shares needed to recover (with --shares)')
    .option('--out-dir <dir>', 'write the shares as files here instead of printing them')
    .option('--json', 'JSON output')
    .action(async (opts: { config?: string; shares?: string; threshold?: string; outDir?: string; json?: boolean }) => {
      const cfg = config(opts.config);
      if (!cfg.masterKeyFile) throw new Error('the config names no masterKeyFile');
      let created = false;
      if (!existsSync(cfg.masterKeyFile)) {
        mkdirSync(dirname(cfg.masterKeyFile), { recursive: true, mode: 0o700 });
        const raw = randomBytes(32);
        writeFileSync(cfg.masterKeyFile, `${raw.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
        raw.fill(0);
        created = true;
      }
      const master = readMasterKeyFile(cfg.masterKeyFile);
      const id = masterKeyId(master);
      if (opts.json && !opts.shares) out(JSON.stringify({ masterKeyFile: cfg.masterKeyFile, created, masterKeyId: id }));
      else if (!opts.json) out(`${created ? 'created' : 'kept existing'} master key ${cfg.masterKeyFile} (id ${id})`);
      if (opts.shares) {
        if (!opts.threshold) throw new Error('--shares needs --threshold');
        const shares = await splitMasterKey(master, integer(opts.shares, '--shares', 2, 255), integer(opts.threshold, '--threshold', 2, 255));
        emitShares(shares, opts.outDir, Boolean(opts.json));
      }
      master.destroy();
    });

  keystore
    .command('backup')
    .description('write an encrypted backup of every key ring (safe while the keystore runs)')
    .option('--config <file>', 'keystore YAML config (default: env FLE_CONFIG)')
    .requiredOption('--out <file>', 'backup file to write (mode 0600)')
    .option('--json', 'JSON output')
    .action(async (opts: { config?: string; out: string; json?: boolean }) => {
      const cfg = config(opts.config);
      const master = loadMasterKey({ file: cfg.masterKeyFile });
      try {
        // Read-only: the running keystore keeps its store and audit log; every record is authenticated first.
        const state = await openKeystoreState(cfg, master, { readOnly: true });
        try {
          const { rings, deviceRecords } = await writeBackup(state.keystore, master, opts.out);
          if (opts.json) out(JSON.stringify({ out: opts.out, rings, deviceRecords, masterKeyId: masterKeyId(master) }));
          else out(`wrote ${opts.out}: ${rings} key ring(s)${deviceRecords > 0 ? ` and the devices of ${deviceRecords} tenant(s)` : ''}, master key ${masterKeyId(master)}`);
        } finally {
          await state.close();
        }
      } finally {
        master.destroy();
      }
    });

  keystore
    .command('seal-records')
    .description('once, with the keystore stopped: authenticate the key ring records of a store written before records were authenticated')
    .option('--config <file>', 'keystore YAML config (default: env FLE_CONFIG)')
    .option('--json', 'JSON output')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const cfg = config(opts.config);
      const master = loadMasterKey({ file: cfg.masterKeyFile });
      try {
        const state = await openKeystoreState(cfg, master);
        try {
          const sealed = await state.keystore.sealUnsealedRecords();
          for (const r of sealed) {
            state.audit!.record({
              identity: null,
              action: 'SealRecord',
              tenant: r.tenant,
              ring: r.ring,
              version: null,
              generation: r.generation,
              allowed: true,
              reason: 'fle keystore seal-records: a record written before records were authenticated, tagged as it was',
              outcome: 'OK',
            });
          }
          if (opts.json) out(JSON.stringify({ sealed: sealed.map((r) => ({ tenant: r.tenant, ring: r.ring, primaryVersion: r.primaryVersion })) }));
          else if (sealed.length === 0) out('nothing to seal: every key ring record in the store is authenticated already');
          else for (const r of sealed) out(`sealed ${r.tenant}/${r.ring} (primary v${r.primaryVersion})`);
        } finally {
          await state.close();
        }
      } finally {
        master.destroy();
      }
    });

  keystore
    .command('split-master')
    .description('split the master key into N recovery shares, any T of which restore it (shamir-secret-sharing)')
    .option('--config <file>', 'keystore YAML config (default: env FLE_CONFIG)')
    .requiredOption('--shares <n>', 'number of shares (2-255)')
    .requiredOption('--threshold <t>', 'shares needed to recover (2-N)')
    .option('--out-dir <dir>', 'write one file per share (mode 0600) instead of printing them')
    .option('--json', 'JSON output')
    .action(async (opts: { config?: string; shares: string; threshold: string; outDir?: string; json?: boolean }) => {
      const cfg = config(opts.config);
      const master = loadMasterKey({ file: cfg.masterKeyFile });
      try {
        const shares = await splitMasterKey(master, integer(opts.shares, '--shares', 2, 255), integer(opts.threshold, '--threshold', 2, 255));
        emitShares(shares, opts.outDir, Boolean(opts.json));
      } finally {
        master.destroy();
      }
    });

  keystore
    .command('restore')
    .description("rebuild the master key from T recovery shares and restore a backup into the config's storage")
    .option('--config <file>', 'keystore YAML config (default: env FLE_CONFIG)')
    .requiredOption('--backup <file>', 'backup written by `fle keystore backup`')
    .option('--share <share>', 'a recovery share (repeat; visible to other local users in the process list)', collect, [])
    .option('--share-file <file>', 'a file holding one recovery share (repeat)', collect, [])
    .option('--master-key-out <file>', "where to write the rebuilt master key (default: the config's masterKeyFile)")
    .option('--force', 'overwrite key rings that already exist in the store')
    .option('--json', 'JSON output')
    .action(async (opts: { config?: string; backup: string; share: string[]; shareFile: string[]; masterKeyOut?: string; force?: boolean; json?: boolean }) => {
      const cfg = config(opts.config);
      const masterKeyFile = opts.masterKeyOut ?? cfg.masterKeyFile;
      if (!masterKeyFile) throw new Error('the config names no masterKeyFile: pass --master-key-out <file>');
      const shares = [...opts.share, ...opts.shareFile.map((f) => readFileSync(f, 'utf8').trim())];
      if (shares.length === 0) throw new Error('give the recovery shares with --share or --share-file');
      const master = await combineShares(shares);
      try {
        const { rings: records, devices } = openBackupContents(readBackupFile(opts.backup), master);
        const id = masterKeyId(master);
        const keyFileExists = existsSync(masterKeyFile);
        if (keyFileExists && masterKeyId(readMasterKeyFile(masterKeyFile)) !== id) {
          throw new MasterKeyError(`${masterKeyFile} holds another master key; move it away to restore this backup`);
        }
        const state = await openKeystoreState(cfg, master);
        let rings: number;
        try {
          const done = await restoreRecords(state.keystore, records, { force: Boolean(opts.force), devices });
          rings = done.rings;
          for (const d of done.restoredDevices) {
            // Anchors the restored device record's generation (keystore-state.ts anchorFromAudit).
            state.audit!.record({
              identity: null,
              action: 'RestoreDeviceRecord',
              tenant: d.tenant,
              ring: null,
              version: null,
              generation: d.generation,
              allowed: true,
              reason: `fle keystore restore from ${opts.backup}: ${d.devices} device(s)`,
              outcome: 'OK',
            });
          }
          for (const r of done.restored) {
            state.audit!.record({
              identity: null,
              action: 'RestoreRecord',
              tenant: r.tenant,
              ring: r.ring,
              version: null,
              generation: r.generation,
              allowed: true,
              reason: `fle keystore restore from ${opts.backup}`,
              outcome: 'OK',
            });
          }
        } finally {
          await state.close();
        }
        // The key file last: a failed restore leaves no master key lying around.
        if (!keyFileExists) {
          mkdirSync(dirname(masterKeyFile), { recursive: true, mode: 0o700 });
          writeFileSync(masterKeyFile, `${Buffer.from(master.exposeBytes()).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
        }
        if (opts.json) out(JSON.stringify({ rings, deviceRecords: devices.length, masterKeyId: id, wroteMasterKey: !keyFileExists }));
        else {
          out(`restored ${rings} key ring(s)${devices.length > 0 ? ` and the devices of ${devices.length} tenant(s)` : ''} under master key ${id}`);
          if (!keyFileExists) out(`wrote master key file ${masterKeyFile}`);
        }
      } finally {
        master.destroy();
      }
    });

  const audit = keystore.command('audit').description("check the keystore's audit log");
  audit
    .command('verify')
    .description('check the hash chain of an audit log; prints the first break and exits 1 if there is one')
    .argument('[file]', "the audit log (default: the config's auditLog)")
    .option('--config <file>', 'keystore YAML config: also check every line\'s mac under its master key (default: env FLE_CONFIG)')
    .option('--json', 'JSON output')
    .action(async (file: string | undefined, opts: { config?: string; json?: boolean }) => {
      const cfg = opts.config !== undefined || (file === undefined && process.env.FLE_CONFIG) ? config(opts.config) : undefined;
      const path = file ?? cfg?.auditLog;
      if (!path) throw new Error('name the audit log file, or pass --config');
      const master = cfg ? loadMasterKey({ file: cfg.masterKeyFile }) : undefined;
      const macKey = master ? auditKeyFromMaster(master) : undefined;
      master?.destroy();
      let result;
      try {
        result = await verifyAuditFile(path, macKey ? { macKey } : {});
      } finally {
        macKey?.destroy();
      }
      if (opts.json) out(JSON.stringify({ file: path, ok: !result.break, ...result }));
      if (result.break) throw new Error(`audit log ${path} is broken at line ${result.break.line}: ${result.break.problem}`);
      if (!opts.json) {
        const legacy = result.legacyLines > 0 ? `; the first ${result.legacyLines} line(s) predate the chain and are not verifiable` : '';
        const macs = result.macsChecked ? 'macs checked under the master key' : 'macs not checked (pass --config to check them)';
        out(`ok: ${path}: ${result.lines} line(s), chain intact up to seq ${result.lastSeq} (head ${result.head})${legacy}; ${macs}`);
      }
    });
}
