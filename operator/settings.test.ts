import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { errorMessage } from '../common/index.js';
import { operatorSettings } from './settings.js';

describe('operatorSettings', () => {
  it('has a default for everything but KUBECONFIG', () => {
    expect(operatorSettings({})).toEqual({
      POD_NAMESPACE: 'topology-ipam-system',
      POD_NAME: `${os.hostname()}-${process.pid}`,
      LOG_LEVEL: 'info',
      HEALTH_PORT: 8080,
      WEBHOOK_ENABLED: true,
      WEBHOOK_PORT: 9443,
      WEBHOOK_SERVICE: 'topology-ipam-webhook',
      WEBHOOK_CONFIGURATION: 'topology-ipam',
      LEASE_NAME: 'topology-ipam-operator',
      LEASE_DURATION_SECONDS: 15,
      RENEW_DEADLINE_SECONDS: 10,
      RETRY_PERIOD_SECONDS: 2,
      RESYNC_SECONDS: 300,
      API_TIMEOUT_SECONDS: 30,
      API_UNREACHABLE_NOT_READY_SECONDS: 10,
      API_UNREACHABLE_UNHEALTHY_SECONDS: 60,
      CONTROLLER_STUCK_SECONDS: 300,
    });
  });

  it('reads the values the Helm chart sets, as strings', () => {
    const settings = operatorSettings({
      KUBECONFIG: '/etc/kube/config',
      POD_NAMESPACE: 'ipam',
      POD_NAME: 'operator-7d9f-abcde',
      LOG_LEVEL: 'debug',
      HEALTH_PORT: '9090',
      WEBHOOK_ENABLED: 'false',
      WEBHOOK_PORT: '10250',
      LEASE_DURATION_SECONDS: '30',
      RENEW_DEADLINE_SECONDS: '20',
      RETRY_PERIOD_SECONDS: '4',
      RESYNC_SECONDS: '600',
      API_TIMEOUT_SECONDS: '5',
      API_UNREACHABLE_NOT_READY_SECONDS: '8',
      API_UNREACHABLE_UNHEALTHY_SECONDS: '8',
      CONTROLLER_STUCK_SECONDS: '120',
    });
    expect(settings).toMatchObject({
      KUBECONFIG: '/etc/kube/config',
      POD_NAMESPACE: 'ipam',
      POD_NAME: 'operator-7d9f-abcde',
      LOG_LEVEL: 'debug',
      HEALTH_PORT: 9090,
      WEBHOOK_ENABLED: false,
      WEBHOOK_PORT: 10250,
      LEASE_DURATION_SECONDS: 30,
      RENEW_DEADLINE_SECONDS: 20,
      RETRY_PERIOD_SECONDS: 4,
      RESYNC_SECONDS: 600,
      API_TIMEOUT_SECONDS: 5,
      API_UNREACHABLE_NOT_READY_SECONDS: 8,
      API_UNREACHABLE_UNHEALTHY_SECONDS: 8,
      CONTROLLER_STUCK_SECONDS: 120,
    });
  });

  it('ignores variables it does not know', () => {
    expect(operatorSettings({ PATH: '/usr/bin', HOME: '/root' })).not.toHaveProperty('PATH');
  });

  it.each<{ name: string; env: Record<string, string>; variable: string; says: string }>([
    {
      name: 'an unknown log level',
      env: { LOG_LEVEL: 'verbose' },
      variable: 'LOG_LEVEL',
      says: '"debug"|"info"',
    },
    { name: 'a port out of range', env: { HEALTH_PORT: '70000' }, variable: 'HEALTH_PORT', says: '65535' },
    {
      name: 'a negative port',
      env: { WEBHOOK_PORT: '-1' },
      variable: 'WEBHOOK_PORT',
      says: 'must be a port number',
    },
    {
      name: 'an empty port',
      env: { HEALTH_PORT: '' },
      variable: 'HEALTH_PORT',
      says: 'must be a port number',
    },
    {
      name: 'a renew deadline not shorter than the lease',
      env: { LEASE_DURATION_SECONDS: '5' },
      variable: 'RENEW_DEADLINE_SECONDS',
      says: 'two replicas could lead at once',
    },
    {
      name: 'a port that is no number',
      env: { HEALTH_PORT: 'http' },
      variable: 'HEALTH_PORT',
      says: 'number',
    },
    {
      name: 'a fractional port',
      env: { HEALTH_PORT: '8080.5' },
      variable: 'HEALTH_PORT',
      says: 'must be a port number',
    },
    {
      name: 'a flag other than true/false',
      env: { WEBHOOK_ENABLED: 'yes' },
      variable: 'WEBHOOK_ENABLED',
      says: '"true"|"false"',
    },
    {
      name: 'a flag in capitals',
      env: { WEBHOOK_ENABLED: 'True' },
      variable: 'WEBHOOK_ENABLED',
      says: '"true"|"false"',
    },
    {
      name: 'zero seconds',
      env: { LEASE_DURATION_SECONDS: '0' },
      variable: 'LEASE_DURATION_SECONDS',
      says: '>0',
    },
    { name: 'negative seconds', env: { RESYNC_SECONDS: '-5' }, variable: 'RESYNC_SECONDS', says: '>0' },
    {
      name: 'empty seconds',
      env: { RETRY_PERIOD_SECONDS: '' },
      variable: 'RETRY_PERIOD_SECONDS',
      says: '>0',
    },
    {
      name: 'seconds in words',
      env: { RESYNC_SECONDS: 'a minute' },
      variable: 'RESYNC_SECONDS',
      says: 'number',
    },
    {
      name: 'infinite seconds',
      env: { RENEW_DEADLINE_SECONDS: 'Infinity' },
      variable: 'RENEW_DEADLINE_SECONDS',
      says: 'Infinity',
    },
    {
      name: 'an empty namespace',
      env: { POD_NAMESPACE: '' },
      variable: 'POD_NAMESPACE',
      says: '>=1 characters',
    },
    { name: 'an empty pod name', env: { POD_NAME: '' }, variable: 'POD_NAME', says: '>=1 characters' },
    {
      name: 'a readiness bound not above the retry period',
      env: { API_UNREACHABLE_NOT_READY_SECONDS: '2' },
      variable: 'API_UNREACHABLE_NOT_READY_SECONDS',
      says: 'unready between two lease reads',
    },
    {
      name: 'a liveness bound below the readiness bound',
      env: { API_UNREACHABLE_UNHEALTHY_SECONDS: '5' },
      variable: 'API_UNREACHABLE_UNHEALTHY_SECONDS',
      says: 'stops taking traffic before it is restarted',
    },
    {
      name: 'a stuck bound not above the request time limit',
      env: { API_TIMEOUT_SECONDS: '300' },
      variable: 'CONTROLLER_STUCK_SECONDS',
      says: 'waiting on one slow request',
    },
    {
      name: 'zero request time limit',
      env: { API_TIMEOUT_SECONDS: '0' },
      variable: 'API_TIMEOUT_SECONDS',
      says: '>0',
    },
  ])('refuses $name, naming the variable', ({ env, variable, says }) => {
    expect(() => operatorSettings(env)).toThrow(/^invalid operator settings:\n/);
    expect(() => operatorSettings(env)).toThrow(`→ at ${variable}`);
    expect(() => operatorSettings(env)).toThrow(says);
  });

  it('lists every bad variable at once', () => {
    let message = '';
    try {
      operatorSettings({ LOG_LEVEL: 'loud', HEALTH_PORT: '-1', WEBHOOK_ENABLED: '1' });
    } catch (error) {
      message = errorMessage(error);
    }
    expect(message).toContain('→ at LOG_LEVEL');
    expect(message).toContain('→ at HEALTH_PORT');
    expect(message).toContain('→ at WEBHOOK_ENABLED');
  });
});
