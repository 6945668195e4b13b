import { describe, expect, it } from 'vitest';
import { errorMessage } from '../common/index.js';
import { defaultAgentSocket } from './protocol.js';
import { agentSettings } from './settings.js';

function refusal(env: NodeJS.ProcessEnv): string {
  try {
    agentSettings(env);
  } catch (error) {
    return errorMessage(error);
  }
  throw new Error('expected the settings to be refused');
}

describe('agentSettings', () => {
  it('leaves natOutgoing off unless asked', () => {
    expect(agentSettings({ NODE_NAME: 'n' }).NAT_OUTGOING).toBe(false);
    expect(agentSettings({ NODE_NAME: 'n', NAT_OUTGOING: 'true' }).NAT_OUTGOING).toBe(true);
  });

  it('takes the defaults beside a node name', () => {
    expect(agentSettings({ NODE_NAME: 'node-a' })).toMatchObject({
      NODE_NAME: 'node-a',
      AGENT_SOCKET: defaultAgentSocket,
      HEALTH_PORT: 9099,
      LOG_LEVEL: 'info',
      ROUTES: false,
    });
  });

  it.each([
    ['no node name', {}, 'NODE_NAME', 'NODE_NAME is required'],
    ['a port that is not a number', { NODE_NAME: 'n', HEALTH_PORT: 'http' }, 'HEALTH_PORT', 'port number'],
    ['a flag that is neither true nor false', { NODE_NAME: 'n', ROUTES: 'yes' }, 'ROUTES', '"true"'],
    ['NAT_OUTGOING neither true nor false', { NODE_NAME: 'n', NAT_OUTGOING: 'on' }, 'NAT_OUTGOING', '"true"'],
  ])('refuses %s, naming the variable and what is wrong', (_, env, variable, reason) => {
    const message = refusal(env);
    expect(message).toMatch(/^invalid agent settings/);
    expect(message).toContain(variable);
    expect(message).toContain(reason);
  });

  it('names every bad variable at once', () => {
    const message = refusal({ HEALTH_PORT: 'x', ROUTES: 'yes' });
    for (const variable of ['NODE_NAME', 'HEALTH_PORT', 'ROUTES']) expect(message).toContain(variable);
  });
});
