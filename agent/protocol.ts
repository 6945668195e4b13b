/**
 * The wire protocol between the CNI forwarder (`/opt/cni/bin/topology-ipam`) and the node agent, over a
 * unix stream socket. One request and one reply per connection, each one JSON object:
 *
 *   forwarder → agent: {"version":1,"env":{"CNI_COMMAND":"ADD",...},"stdin":"<network configuration>"}
 *                      then it shuts down its writing side (the agent reads to end of stream);
 *   agent → forwarder: {"version":1,"exitCode":0,"stdout":"<what the plugin prints>"} then it closes.
 *
 * The forwarder prints `stdout` and exits with `exitCode`, nothing else: every CNI decision is the
 * agent's. `env` carries the CNI_* variables only. A request of another version, or one that does not
 * parse, is answered with a CNI error (code 4, invalid environment) naming what the agent speaks, so an
 * old forwarder against a new agent fails readably. The forwarder answers VERSION itself.
 */
import { errorMessage } from '../common/index.js';

export const protocolVersion = 1;

/** The socket the agent listens on and the forwarder dials, unless `ipam.agent_socket` names another. */
export const defaultAgentSocket = '/run/topology-ipam/agent.sock';

/** The largest network configuration the forwarder sends: one with a long prevResult fits many times over. */
export const maxStdinBytes = 1024 * 1024;

/**
 * The largest request the agent reads: the configuration as a JSON string (escaping grows it, up to six
 * times for control characters) and the environment.
 */
export const maxRequestBytes = 8 * maxStdinBytes;

/** The environment variables forwarded: the CNI spec's. */
export const forwardedVariables = [
  'CNI_COMMAND',
  'CNI_CONTAINERID',
  'CNI_NETNS',
  'CNI_IFNAME',
  'CNI_ARGS',
  'CNI_PATH',
] as const;

export interface AgentRequest {
  readonly version: number;
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: string;
}

export interface AgentReply {
  readonly version: number;
  readonly exitCode: number;
  readonly stdout: string;
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** Parses a request; throws ProtocolError saying what is wrong with it. */
export function parseRequest(text: string): AgentRequest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(`the request is not JSON: ${errorMessage(error)}`);
  }
  if (typeof value !== 'object' || value === null) throw new ProtocolError('the request is not an object');
  const { version, env, stdin } = value as Record<string, unknown>;
  if (version !== protocolVersion) {
    throw new ProtocolError(
      `the forwarder speaks protocol version ${JSON.stringify(version)}, this agent speaks ${protocolVersion}: install the forwarder and the agent of one release`,
    );
  }
  if (typeof env !== 'object' || env === null || Array.isArray(env))
    throw new ProtocolError('the request has no "env" object');
  const strings: Record<string, string> = {};
  for (const [key, text] of Object.entries(env)) {
    if (typeof text !== 'string') throw new ProtocolError(`env.${key} is not a string`);
    strings[key] = text;
  }
  if (typeof stdin !== 'string') throw new ProtocolError('the request has no "stdin" string');
  return { version, env: strings, stdin };
}

export function encodeReply(exitCode: number, stdout: string): string {
  const reply: AgentReply = { version: protocolVersion, exitCode, stdout };
  return JSON.stringify(reply);
}
