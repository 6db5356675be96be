// @fle/testkit: the NATS harness for every integration test, and small helpers.
export { HarnessError, type HarnessErrorCode } from './errors.js';
export { freePort, tempDir } from './cleanup.js';
export { makeTestPki } from './test-pki.js';
export { CHROMIUM_ENV, CHROMIUM_INSTALL_HINT, CHROMIUM_NAMES, findChromium, locateChromium } from './chromium.js';
export { chooseProvider, dockerReachable, type NatsProvider } from './provider.js';
export { startNats, type NatsHarness, type NatsNodeView, type StartNatsOptions } from './start-nats.js';
export { BinaryNode, type NatsNode } from './nodes.js';
export { ContainerNode, containerNetwork, type ContainerNodeSpec } from './container-nodes.js';
export {
  FIXTURE_METHOD,
  FIXTURE_PLAIN_METHOD,
  FIXTURE_PROTO_DIR,
  FIXTURE_RECORD,
  FIXTURE_REQUEST,
  FIXTURE_RESPONSE,
  FIXTURE_SERVICE,
  fixtureSchema,
} from './fixture-schema.js';
export {
  LEDGER_BUCKET,
  LEDGER_HANDLERS,
  canaryLedgerRequest,
  ledgerEntryContext,
  ledgerKey,
  type CanaryLedgerRequest,
  type LedgerRequest,
  type LedgerResponse,
} from './ledger.js';
export { canarySubmitRequest, type FixtureCanaryRequest } from './fixture-requests.js';
