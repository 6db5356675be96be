// @fle/devstack: the one-command local stack behind `npm start` and the demo
// flow behind `fle demo`.
export { DevStackError, type DevStackErrorCode } from './errors.js';
export {
  DEFAULT_TENANT,
  HOME_ENV,
  NATS_RUNNER_ENV,
  PORT_DEFAULTS,
  TENANT_ENV,
  TRANSPORT_ENV,
  settingsFromEnv,
  type NatsRunner,
  type StackPorts,
  type StackSettings,
  type StackTransport,
} from './settings.js';
export { stateLayout, type StateLayout } from './state-dir.js';
export { OBSERVER_IDENTITY, natsUsers, observerPermissions } from './configs.js';
export { DEMO_KEY_RINGS, startStack, type RunningStack, type StackApi, type StartStackOptions } from './stack.js';
export { processAlive, readStackFile, type StackInfo, type StackProcessInfo } from './stack-file.js';
export { runDemo, type DemoRun, type DemoTarget, type LoggedService } from './demo/run-demo.js';
export { demoTargetFromStack, resolveDemoTarget, type DemoFlags } from './demo/target.js';
export { formatDemo } from './demo/format.js';
export type * from './demo/summary.js';
