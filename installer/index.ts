/** The CNI installer: what the chart's DaemonSet runs on each node to put the forwarder and conflist in place. */
export {
  type FileOutcome,
  type InstallPaths,
  type StepReport,
  InstallerError,
  copyIfChanged,
  forwarderPresent,
  installForwarder,
  installOnce,
  installPaths,
  removeLegacyFiles,
  renderConflist,
  resync,
  runInstaller,
  syncConflist,
  writeIfChanged,
} from './install.js';
export { type InstallerSettings, installerSettings, installerSettingsSchema } from './settings.js';
