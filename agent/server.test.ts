import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { maxRequestBytes } from './protocol.js';
import { type RequestHandler, type SocketServer, listen } from './server.js';
import { askAgent } from './testing.js';

let dir: string | undefined;
let server: SocketServer | undefined;

async function serve(handle: RequestHandler): Promise<SocketServer> {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-server-'));
  server = await listen(path.join(dir, 'run', 'agent.sock'), handle);
  return server;
}

/** Sends raw bytes and returns the raw reply. */
function raw(socketPath: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => {
      resolve(text);
    });
    socket.on('error', reject);
    socket.end(payload);
  });
}

afterEach(async () => {
  await server?.close();
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  server = undefined;
  dir = undefined;
});

describe('the agent socket', () => {
  it('hands the env and stdin to the handler and returns its outcome', async () => {
    const seen: unknown[] = [];
    const { path: socketPath } = await serve((env, stdin) => {
      seen.push({ env, stdin });
      return Promise.resolve({ stdout: '{"cniVersion":"1.0.0"}', exitCode: 0 });
    });
    const answer = await askAgent(socketPath, { CNI_COMMAND: 'ADD' }, { name: 'n' });
    expect(answer).toMatchObject({ version: 1, exitCode: 0, json: { cniVersion: '1.0.0' } });
    expect(seen).toEqual([{ env: { CNI_COMMAND: 'ADD' }, stdin: '{"name":"n"}' }]);
    expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600);
  });

  it.each([
    ['another protocol version', JSON.stringify({ version: 2, env: {}, stdin: '' }), /protocol version 2/],
    ['not JSON', 'hello', /not JSON/],
    ['no env', JSON.stringify({ version: 1, stdin: '' }), /no "env" object/],
  ])('answers a request in %s with code 4, the handler never called', async (_, payload, reason) => {
    let called = false;
    const { path: socketPath } = await serve(() => {
      called = true;
      return Promise.resolve({ stdout: '', exitCode: 0 });
    });
    const reply = JSON.parse(await raw(socketPath, payload)) as { exitCode: number; stdout: string };
    expect(reply.exitCode).toBe(1);
    const error = JSON.parse(reply.stdout) as { code: number; details: string };
    expect(error.code).toBe(4);
    expect(error.details).toMatch(reason);
    expect(called).toBe(false);
  });

  it(`refuses a request over ${maxRequestBytes} bytes`, async () => {
    const { path: socketPath } = await serve(() => Promise.resolve({ stdout: '', exitCode: 0 }));
    const reply = JSON.parse(await raw(socketPath, 'x'.repeat(maxRequestBytes + 10))) as { stdout: string };
    expect(JSON.parse(reply.stdout)).toMatchObject({ code: 4 });
  });

  it('keeps serving on the socket path when the agent it replaced closes after it started', async () => {
    const older = await serve(() => Promise.resolve({ stdout: 'old', exitCode: 0 }));
    const newer = await listen(older.path, () => Promise.resolve({ stdout: '{"new":true}', exitCode: 0 }));
    try {
      await older.close();
      expect((await askAgent(newer.path, { CNI_COMMAND: 'ADD' }, {})).json).toEqual({ new: true });
    } finally {
      await newer.close();
    }
  });

  it('answers the requests it took before closing, and refuses new connections after', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let taken!: () => void;
    const handlerCalled = new Promise<void>((resolve) => (taken = resolve));
    const served = await serve(async () => {
      taken();
      await gate;
      return { stdout: '', exitCode: 0 };
    });
    const pending = askAgent(served.path, { CNI_COMMAND: 'DEL' }, {});
    // Closing only once the request is taken: on a loaded machine a fixed wait could close first.
    await handlerCalled;
    const closing = served.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(askAgent(served.path, { CNI_COMMAND: 'DEL' }, {})).rejects.toThrow();
    release();
    expect((await pending).exitCode).toBe(0);
    await closing;
    server = undefined;
  });
});
