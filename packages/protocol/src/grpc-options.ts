// grpc-js options every fle server and client sets.

/**
 * grpc-js tracks every call for channelz (counters, timestamps, listeners on
 * each stream) unless told not to, even when no channelz service is served.
 * fle serves none, so its servers and channels turn it off: about 10 µs of
 * CPU per call on each side (issue 23). A team that wants channelz passes
 * `'grpc.enable_channelz': 1` in its own options, which take precedence.
 */
export const GRPC_NO_CHANNELZ = Object.freeze({ 'grpc.enable_channelz': 0 });
