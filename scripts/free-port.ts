import { once } from 'node:events';
import net from 'node:net';

/** A free TCP port on the loopback interface, for the servers the tests and the benchmark start. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
