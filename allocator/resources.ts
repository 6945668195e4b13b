import {
  type BlockAffinity,
  type IPAMBlock,
  type IPAMConfig,
  type IPPool,
  type IPReservation,
  type ResourceDefinition,
  customResources,
} from '../api/index.js';
import { type KubeClient, type KubeObject, ResourceClient } from '../kube/index.js';

/** Typed access to the IPAM custom resources through one client. */
export interface IpamResources {
  readonly client: KubeClient;
  readonly pools: ResourceClient<IPPool>;
  readonly blocks: ResourceClient<IPAMBlock>;
  readonly affinities: ResourceClient<BlockAffinity>;
  readonly configs: ResourceClient<IPAMConfig>;
  readonly reservations: ResourceClient<IPReservation>;
}

/** A client of one resource, addressed as the model's table names it. */
function resourceClient<T extends KubeObject>(
  client: KubeClient,
  { group, version, plural, kind, scope }: ResourceDefinition,
): ResourceClient<T> {
  return new ResourceClient<T>(client, { group, version, plural, kind, namespaced: scope === 'Namespaced' });
}

export function ipamResources(client: KubeClient): IpamResources {
  return {
    client,
    pools: resourceClient(client, customResources.pools),
    blocks: resourceClient(client, customResources.blocks),
    affinities: resourceClient(client, customResources.affinities),
    configs: resourceClient(client, customResources.configs),
    reservations: resourceClient(client, customResources.reservations),
  };
}
