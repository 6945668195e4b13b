import type { BlockAffinitySpec, IPAMBlockSpec, IPAMConfigSpec, IPPoolStatus } from '../api/index.js';
import { apiGroup, apiVersionName } from '../api/index.js';
import type { IPPoolSpecInput } from '../ipam/index.js';
import { type KubeClient, type KubeObject, ResourceClient, type ResourceType } from '../kube/index.js';

export interface IPPool extends KubeObject {
  spec: IPPoolSpecInput;
  status?: IPPoolStatus;
}
export interface IPAMBlock extends KubeObject {
  spec: IPAMBlockSpec;
}
export interface BlockAffinity extends KubeObject {
  spec: BlockAffinitySpec;
}
export interface IPAMConfig extends KubeObject {
  spec: Partial<IPAMConfigSpec>;
}

const custom = (plural: string, kind: string): ResourceType => ({
  group: apiGroup,
  version: apiVersionName,
  plural,
  kind,
  namespaced: false,
});

export const ipamResourceTypes = {
  pools: custom('ippools', 'IPPool'),
  blocks: custom('ipamblocks', 'IPAMBlock'),
  affinities: custom('blockaffinities', 'BlockAffinity'),
  configs: custom('ipamconfigs', 'IPAMConfig'),
} as const;

/** Typed access to the IPAM custom resources through one client. */
export interface IpamResources {
  readonly client: KubeClient;
  readonly pools: ResourceClient<IPPool>;
  readonly blocks: ResourceClient<IPAMBlock>;
  readonly affinities: ResourceClient<BlockAffinity>;
  readonly configs: ResourceClient<IPAMConfig>;
}

export function ipamResources(client: KubeClient): IpamResources {
  return {
    client,
    pools: new ResourceClient<IPPool>(client, ipamResourceTypes.pools),
    blocks: new ResourceClient<IPAMBlock>(client, ipamResourceTypes.blocks),
    affinities: new ResourceClient<BlockAffinity>(client, ipamResourceTypes.affinities),
    configs: new ResourceClient<IPAMConfig>(client, ipamResourceTypes.configs),
  };
}
