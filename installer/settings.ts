import { z } from 'zod';

const positiveSeconds = (fallback: number) => z.coerce.number().positive().default(fallback);

/**
 * The installer's settings, from the environment the chart's DaemonSet sets. Paths are as the installer
 * sees them (the host's directories mounted under /host) except `HOST_CNI_NET_DIR`, which is where the
 * CNI plugin, running on the host, finds the credentials the installer writes.
 */
export const installerSettingsSchema = z.object({
  NODE_NAME: z
    .string({ error: 'NODE_NAME is required (the chart sets it from spec.nodeName)' })
    .min(1, 'NODE_NAME is empty'),
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
  HOST_CNI_NET_DIR: z
    .string()
    .min(1)
    .default('/etc/cni/net.d')
    .describe('CNI_NET_DIR as the host sees it: written into the conflist and the kubeconfig.'),
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
    .describe('Where the image holds the plugin launcher and bundle.'),
  NODE_BINARY: z
    .string()
    .min(1)
    .optional()
    .describe('The node binary to install next to the plugin; default: the one running the installer.'),
  SERVICE_ACCOUNT_DIR: z
    .string()
    .min(1)
    .default('/var/run/secrets/kubernetes.io/serviceaccount')
    .describe('Holds `token` and `ca.crt` (a projected volume: the token rotates).'),
  KUBE_API_SERVER: z
    .string()
    .default('')
    .refine((text) => text === '' || /^https:\/\/[^/]+\/?$/.test(text), {
      message: 'KUBE_API_SERVER is an https:// URL with no path, e.g. https://10.0.0.1:6443',
    }),
  KUBERNETES_SERVICE_HOST: z.string().default(''),
  KUBERNETES_SERVICE_PORT: z.string().default('443'),
  WATCH: z
    .enum(['true', 'false'])
    .default('false')
    .transform((text) => text === 'true')
    .describe('Keep running and re-sync the credentials and conflist every SYNC_SECONDS.'),
  SYNC_SECONDS: positiveSeconds(10),
});
export type InstallerSettings = z.infer<typeof installerSettingsSchema>;

export function installerSettings(env: NodeJS.ProcessEnv = process.env): InstallerSettings {
  const parsed = installerSettingsSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid installer settings:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The API server URL the plugin on the host uses: KUBE_API_SERVER, else the in-cluster Service address. */
export function apiServerUrl(settings: InstallerSettings): string {
  if (settings.KUBE_API_SERVER !== '') return settings.KUBE_API_SERVER.replace(/\/$/, '');
  const host = settings.KUBERNETES_SERVICE_HOST;
  if (host === '') {
    throw new Error(
      'cannot tell the API server address: KUBERNETES_SERVICE_HOST is unset; set KUBE_API_SERVER (chart value cni.apiServer)',
    );
  }
  const port = settings.KUBERNETES_SERVICE_PORT;
  return host.includes(':') ? `https://[${host}]:${port}` : `https://${host}:${port}`;
}
