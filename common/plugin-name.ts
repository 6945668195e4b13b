/**
 * The plugin's name: the `ipam.type` a network configuration calls it by, and so the file name of its
 * binary in the CNI bin folder (a runtime runs the binary that `type` names). Here, not in cni/, because
 * the installer needs it too and programs do not import each other.
 */
export const pluginName = 'topology-ipam';

/**
 * The chained plugin that adds the pod's default routes via the link-local gateway after `ptp`: the
 * same binary as the forwarder under a second name, which is how it knows its mode (cni/forwarder/routes.go).
 */
export const routesPluginName = 'topology-ipam-routes';
