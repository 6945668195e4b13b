/**
 * The agent's unix socket: one request per connection (see protocol.ts). The socket's folder is made
 * 0700 and the socket 0600, so only root on the host (the runtime, the forwarder it runs) can ask for an
 * address. `close()` stops accepting and resolves once every request taken has been answered.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { errorMessage } from '../common/index.js';
import { CniError, toCniError } from '../cni/errors.js';
import type { Outcome } from '../cni/run.js';
import { encodeReply, maxRequestBytes, parseRequest } from './protocol.js';

export type RequestHandler = (env: Readonly<Record<string, string>>, stdin: string) => Promise<Outcome>;

export interface SocketServer {
  readonly path: string;
  close(): Promise<void>;
}

/** A request that is not the protocol's, as the CNI error the forwarder prints (code 4: it is at fault). */
function protocolFailure(message: string): Outcome {
  const error = new CniError({ kind: 'invalid-env', variable: "the forwarder's request", reason: message });
  return { stdout: JSON.stringify(toCniError(error)), exitCode: 1 };
}

export async function listen(socketPath: string, handle: RequestHandler): Promise<SocketServer> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  fs.chmodSync(path.dirname(socketPath), 0o700);
  // Bound under a name of its own, then renamed over the socket path: a socket file left by an agent
  // that died is replaced at once, and an older agent that is still stopping removes only its own name
  // when it closes (Node unlinks the name it bound), never the path the new agent serves.
  const boundPath = `${socketPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
  /** Connections whose request has not been read whole: dropped on close (their forwarder says 11). */
  const unread = new Set<net.Socket>();
  let serving = 0;
  const idle = new Set<() => void>();
  // Half-open: the forwarder ends its side after the request, and the reply still has to go back.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    unread.add(socket);
    socket.on('close', () => unread.delete(socket));
    socket.on('error', () => undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    socket.on('data', (chunk: Buffer) => {
      const alreadyRefused = size > maxRequestBytes;
      size += chunk.length;
      if (size > maxRequestBytes) {
        if (!alreadyRefused) {
          socket.end(encodeReplyOf(protocolFailure(`the request exceeds ${maxRequestBytes} bytes`)));
        }
        return;
      }
      chunks.push(chunk);
    });
    socket.on('end', () => {
      unread.delete(socket);
      if (size > maxRequestBytes) return;
      serving++;
      void answer(Buffer.concat(chunks).toString('utf8'))
        .then((outcome) => {
          if (!socket.destroyed) socket.end(encodeReplyOf(outcome));
        })
        .finally(() => {
          serving--;
          if (serving === 0) for (const resolve of idle) resolve();
        });
    });
  });
  const answer = async (text: string): Promise<Outcome> => {
    let request;
    try {
      request = parseRequest(text);
    } catch (error) {
      return protocolFailure(errorMessage(error));
    }
    return handle(request.env, request.stdin);
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(boundPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(boundPath, 0o600);
  fs.renameSync(boundPath, socketPath);
  return {
    path: socketPath,
    close: async () => {
      const closed = new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
      if (serving > 0) await new Promise<void>((resolve) => idle.add(resolve));
      // Replies already given are left to flush and close by themselves.
      for (const socket of unread) socket.destroy();
      await closed;
    },
  };
}

function encodeReplyOf(outcome: Outcome): string {
  return encodeReply(outcome.exitCode, outcome.stdout);
}
