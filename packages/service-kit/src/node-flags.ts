// Node flags every fle service process runs with: the Docker image's
// NODE_OPTIONS (deploy/docker/Dockerfile, checked by test/deploy/dockerfile.test.ts)
// and startServiceProcess (tests, benchmarks, `npm start`).

/**
 * `--max-semi-space-size=64` (MiB; Node 20's default is 16): a gateway or a
 * processor keeps each request's objects alive for its whole round trip
 * (tens of milliseconds at 64 requests in flight), so with a small young
 * generation most of them survive a scavenge or two and are copied, then
 * promoted and collected again by the old generation. A larger one lets them
 * die young. Costs up to 128 MiB of young generation per process at peak
 * (two semi-spaces), within the manifests' 512 MiB limit (issue 23).
 */
export const SERVICE_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=64']);
