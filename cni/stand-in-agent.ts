/**
 * Test and benchmark support: a stand-in for the node agent on a unix socket, which records each request
 * the forwarder sends and answers it as told. It speaks only the wire format (agent/protocol.ts), so the
 * forwarder is tested and measured on its own.
 */
import net from 'node:net';

/** What the stand-in does once it has read a whole request: reply, close without a reply, or nothing. */
export type StandInAnswer =
  { readonly reply: (request: string) => string } | { readonly close: true } | { readonly silent: true };

export interface StandInAgent {
  readonly socket: string;
  /** The requests received, as sent. */
  readonly requests: string[];
  /** Connections accepted, complete requests or not. */
  readonly connections: () => number;
  readonly stop: () => Promise<void>;
}

export async function startStandInAgent(socket: string, answer: StandInAnswer): Promise<StandInAgent> {
  const requests: string[] = [];
  const open: net.Socket[] = [];
  // Half-open, as the agent must be: the forwarder shuts down its side once the request is sent.
  const server = net.createServer({ allowHalfOpen: true }, (connection) => {
    open.push(connection);
    const chunks: Buffer[] = [];
    connection.on('data', (chunk: Buffer) => chunks.push(chunk));
    connection.on('error', () => undefined);
    connection.on('end', () => {
      const request = Buffer.concat(chunks).toString('utf8');
      requests.push(request);
      if ('reply' in answer) connection.end(answer.reply(request));
      else if ('close' in answer) connection.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  return {
    socket,
    requests,
    connections: () => open.length,
    stop: async () => {
      for (const connection of open) connection.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
