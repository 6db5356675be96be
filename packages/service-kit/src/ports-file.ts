// A service announces the ports it actually bound (port 0 = any free port) by
// writing a small JSON file once it is ready — the nats-server `ports_file_dir`
// habit — so test helpers and `npm start` know where to connect.
import { rename, writeFile } from 'node:fs/promises';

export async function writePortsFile(path: string, ports: Record<string, number | string>): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(ports));
  await rename(tmp, path);
}
