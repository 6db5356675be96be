// @fle/processor: the decrypt boundary as a program — @fle/boundary driven by
// a config file naming the team's schema and handler module.
export { startProcessor, type ProcessorDeps, type RunningProcessor } from './processor.js';
export { parseProcessorConfig, loadProcessorConfig, type ProcessorConfig, type ProcessorRoute } from './config.js';
