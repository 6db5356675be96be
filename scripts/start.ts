// `npm start`: the whole system on this machine, then a demo request, then it
// keeps running until Ctrl-C (SIGINT) or SIGTERM and stops every process it
// started. No build step: every service runs from its TypeScript sources
// through tsx. State lives in FLE_HOME (default `<repo>/.fle`, git-ignored).
// What runs, ports and variables: README.md "Running it"; code: packages/devstack.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBrowserBundle } from '../packages/client/src/browser-build.js';
import { DevStackError, formatDemo, runDemo, demoTargetFromStack, settingsFromEnv, startStack, type RunningStack } from '@fle/devstack';
// What the stack serves: the payments example (examples/payments), its schema and handler module named like any team's.
import { PAYMENTS_API } from '@fle-examples/payments/schema';

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const MIN_NODE = [20, 19];

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function fail(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`npm start: ${message}\n`);
}

async function main(): Promise<number> {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < MIN_NODE[0]! || (major === MIN_NODE[0] && minor < MIN_NODE[1]!)) {
    fail(`node ${MIN_NODE.join('.')} or later is needed (this is ${process.versions.node})`);
    return 1;
  }
  const settings = settingsFromEnv(process.env, join(REPO, '.fle'));

  // Ctrl-C during start-up aborts it; once running, the first signal stops
  // the stack gracefully and a second one kills what is left.
  const abort = new AbortController();
  let stack: RunningStack | undefined;
  let firstSignalAt: number | undefined;
  let stopRequested: (signal: NodeJS.Signals) => void = () => undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    // One Ctrl-C under `npm start` arrives more than once (the terminal signals
    // the whole process group, and npm and tsx each relay it again within a few
    // ms): only a signal a second or more after the first means "kill now".
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt < 1000) return;
      say(`\n${signal} again: killing what is left`);
      stack?.killNow();
      process.exit(1);
    }
    firstSignalAt = Date.now();
    abort.abort();
    stopRequested(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  say(`fle: starting the local stack (state in ${settings.home})`);
  try {
    // The example page's @fle/client/browser bundle, built from the sources (no build step before npm start).
    const web = { bundle: (await buildBrowserBundle({ minify: true })).code };
    stack = await startStack(settings, { api: PAYMENTS_API, onStep: (l) => say(`  ${l}`), signal: abort.signal, web });
  } catch (err) {
    if (abort.signal.aborted) {
      say('stopped during start-up');
      return 0;
    }
    fail(err);
    return 1;
  }
  say(`  logs: ${stack.layout.logs}/<service>.log`);
  say();

  try {
    const run = await runDemo(demoTargetFromStack(stack.info));
    process.stdout.write(formatDemo(run));
    if (!run.summary.ok) throw new DevStackError('DEVSTACK_DEMO_FAILED', `the demo found a problem: ${run.summary.problems.join('; ')}`);
  } catch (err) {
    fail(err);
    await stack.stop();
    return 1;
  }

  say();
  say(`The stack is running: gateway ${stack.info.gateway}, keystore ${stack.info.keystore}, NATS ${stack.info.nats}.`);
  if (stack.info.edge) {
    say(`Example page (a card sealed in the browser, sent to the gateway's public edge): ${stack.info.edge}`);
    say(`  its certificate is from the stack's dev CA (${stack.layout.certs}/ca.pem): trust that CA, or accept the warning once.`);
  }
  say('Run the demo again with `npx fle demo` (or `npx fle demo --json`). Ctrl-C stops everything.');

  const outcome = await Promise.race([stopSignal.then((s) => ({ signal: s })), stack.failed.then((e) => ({ failure: e }))]);
  // A Ctrl-C reaches the services too (same process group): one exiting first is not a failure then.
  if ('failure' in outcome && firstSignalAt === undefined) {
    fail(outcome.failure);
    say('stopping the rest of the stack');
    await stack.stop();
    return 1;
  }
  say(`\n${'signal' in outcome ? outcome.signal : 'signal'}: stopping gateway, processor, keystore, nats-server`);
  await stack.stop();
  say('stopped; nothing left running');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    fail(err);
    process.exit(1);
  },
);
