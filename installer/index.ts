/** The CNI installer: what the chart's DaemonSet runs on each node to put the plugin in place. */
export {
  type FileOutcome,
  type InstallPaths,
  type InstallerLog,
  type LogLevel,
  type StepReport,
  InstallerError,
  binaries,
  binariesPresent,
  copyIfChanged,
  installBinaries,
  installOnce,
  installPaths,
  pluginName,
  renderConflist,
  renderKubeconfig,
  resync,
  runInstaller,
  syncConflist,
  syncCredentials,
  writeIfChanged,
} from './install.js';
export {
  type InstallerSettings,
  apiServerUrl,
  installerSettings,
  installerSettingsSchema,
} from './settings.js';
