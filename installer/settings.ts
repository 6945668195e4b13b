import { z } from 'zod';
import { flag, parseSettings, positiveSeconds } from '../runtime/index.js';

/**
 * The installer's settings, from the environment the chart's DaemonSet sets. Paths are as the installer
 * sees them: the host's directories mounted under /host.
 */
export const installerSettingsSchema = z.object({
  NODE_NAME: z
    .string({ error: 'NODE_NAME is required (the chart sets it from spec.nodeName)' })
    .min(1, 'NODE_NAME is empty')
    .describe('This node, named in the logs.'),
  CNI_BIN_DIR: z
    .string()
    .min(1)
    .default('/host/opt/cni/bin')
    .describe('The host CNI bin directory, mounted.'),
  CNI_NET_DIR: z
    .string()
    .min(1)
    .default('/host/etc/cni/net.d')
    .describe('The host CNI configuration directory, mounted.'),
  CNI_CONF_NAME: z
    .string()
    .regex(/^[^/]+\.conflist$/, 'CNI_CONF_NAME is a file name ending in .conflist')
    .default('10-topology-ipam.conflist'),
  CNI_NETWORK_CONFIG: z
    .string()
    .default('')
    .describe('The conflist to write, as JSON; empty to write none (the plugin is referenced by hand).'),
  SOURCE_DIR: z
    .string()
    .min(1)
    .default('/opt/topology-ipam')
    .describe('Where the image holds the forwarder binary, `topology-ipam`.'),
  WATCH: flag(false).describe('Keep running and re-sync the forwarder and the conflist every SYNC_SECONDS.'),
  SYNC_SECONDS: positiveSeconds(10),
});
export type InstallerSettings = z.infer<typeof installerSettingsSchema>;

export function installerSettings(env: NodeJS.ProcessEnv = process.env): InstallerSettings {
  return parseSettings(installerSettingsSchema, env, 'installer');
}
