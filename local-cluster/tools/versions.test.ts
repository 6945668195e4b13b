import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const tools = path.dirname(fileURLToPath(import.meta.url));
const pins = new Map<string, string>();
for (const line of fs.readFileSync(path.join(tools, 'versions.env'), 'utf8').split('\n')) {
  const [, name, version] = /^([A-Z_]+)=(\S+)$/.exec(line) ?? [];
  if (name !== undefined && version !== undefined) pins.set(name, version);
}

/** The version of `module` that a wrapper's go.mod requires. */
function required(wrapper: string, module: string): string | undefined {
  const goMod = fs.readFileSync(path.join(tools, wrapper, 'go.mod'), 'utf8');
  return new RegExp(`^\\s*(?:require\\s+)?${module.replaceAll('.', '\\.')} (v\\S+)`, 'm').exec(goMod)?.[1];
}

describe('versions.env', () => {
  it.each([
    ['KUBE_VERSION', 'kube', 'k8s.io/kubernetes'],
    ['ETCD_VERSION', 'kube', 'go.etcd.io/etcd/server/v3'],
    ['HELM_VERSION', 'helm', 'helm.sh/helm/v3'],
    ['CONTAINERD_VERSION', 'containerd', 'github.com/containerd/containerd/v2'],
    ['CNI_PLUGINS_VERSION', 'containerd', 'github.com/containernetworking/plugins'],
  ])(
    '%s is what the %s wrapper builds (bash local-cluster/tools/pin.sh after changing it)',
    (pin, wrapper, module) => {
      expect(pins.get(pin)).toMatch(/^v\d/);
      expect(required(wrapper, module)).toBe(pins.get(pin));
    },
  );
});
