/**
 * The plugin's name: the `ipam.type` a network configuration calls it by, and so the file name of its
 * binary in the CNI bin folder (a runtime runs the binary that `type` names). It imports nothing, so the
 * installer's bundle takes it without the rest of cni/.
 */
export const pluginName = 'topology-ipam';
