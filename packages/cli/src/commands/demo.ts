// `fle demo [--json]`: one demo AuthorizeRequest through a running stack
// (`npm start`), and per hop what it saw. Addresses come from the flags, else
// from the stack file the running `npm start` wrote (FLE_HOME/run/stack.json),
// else the fixed defaults. Exit 0 when the request was approved, every hop
// was observed (NATS view, gateway and processor logs) and no plaintext was
// seen outside the processor; otherwise 1 with one line on stderr.
import type { Command } from 'commander';
import type { DemoFlags } from '@fle/devstack';

interface DemoOptions extends DemoFlags {
  json?: boolean;
}

export function registerDemoCommands(program: Command): void {
  program
    .command('demo')
    .description('send one encrypted AuthorizeRequest through a running stack (npm start) and show what each hop saw')
    .option('--json', 'print a machine-readable summary (hops, approved, timings, plaintext seen outside the processor)')
    .option('--gateway <host:port>', 'gateway address (default: the running stack, else 127.0.0.1:8443)')
    .option('--certs <dir>', 'dev PKI folder with the client (and observer) certificates (default: <home>/certs)')
    .option('--keystore <host:port>', 'keystore address the client fetches its keys from (default: the running stack, else 127.0.0.1:7443)')
    .option('--nats <url>', 'NATS URL for the observer view (default: the running stack)')
    .option('--tenant <tenant>', 'tenant id (default: the running stack, else demo)')
    .option('--home <dir>', 'state folder of the stack (default: env FLE_HOME, else .fle)')
    .action(async (o: DemoOptions) => {
      const { formatDemo, resolveDemoTarget, runDemo } = await devstack();
      const { target } = resolveDemoTarget(o);
      let run;
      try {
        run = await runDemo(target);
      } catch (err) {
        throw new Error(oneLine(err, (await devstack()).DevStackError));
      }
      process.stdout.write(o.json ? `${JSON.stringify(run.summary, null, 2)}\n` : formatDemo(run));
      if (!run.summary.ok) throw new Error(`demo: ${run.summary.problems.join('; ')}`);
    });
}

/**
 * @fle/devstack (the `npm start` stack) is an optional peer: it exists in the
 * fle repository, not in an installed CLI, so it is loaded only for `fle demo`.
 */
async function devstack(): Promise<typeof import('@fle/devstack')> {
  try {
    return await import('@fle/devstack');
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error('demo: needs @fle/devstack, the `npm start` stack of the fle repository; run `npx fle demo` there');
  }
}

/** One line; an unreachable stack gets the hint that matters. */
function oneLine(err: unknown, DevStackError: typeof import('@fle/devstack').DevStackError): string {
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  const cause = err instanceof DevStackError ? (err.cause as { status?: number } | undefined) : undefined;
  const unavailable = cause?.status === 14 || /UNAVAILABLE|ECONNREFUSED|unavailable/.test(text);
  return unavailable ? `demo: ${text} (is \`npm start\` running?)` : `demo: ${text}`;
}
