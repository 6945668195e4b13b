import net from 'node:net';

export interface CuttableProxy {
  /** `https://127.0.0.1:<port>`: use it as a client's server instead of the API server's own address. */
  readonly url: string;
  /** Drops every open connection, as a network fault would (watches break; new connections work). */
  cut(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on loopback in front of the API server (TLS passes through untouched), for tests that
 * need a client's open connections, watches included, to break at a moment of their choosing.
 */
export async function cuttableProxy(server: string): Promise<CuttableProxy> {
  const target = new URL(server);
  const open = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  };
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    track(client);
    track(upstream);
    // Either side ending (or failing) ends the other.
    client.on('close', () => {
      upstream.destroy();
    });
    upstream.on('close', () => {
      client.destroy();
    });
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address() as net.AddressInfo;
  const cut = () => {
    for (const socket of open) socket.destroy();
  };
  return {
    url: `https://127.0.0.1:${String(address.port)}`,
    cut,
    close() {
      cut();
      return new Promise((resolve) => {
        proxy.close(() => {
          resolve();
        });
      });
    },
  };
}
