/**
 * The CNI spec versions this plugin speaks. Kept free of imports: `VERSION` is answered from this module
 * alone, without loading zod or the Kubernetes client.
 */
export const supportedVersions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof supportedVersions)[number];
export const latestVersion: CniVersion = '1.1.0';

export function isSupportedVersion(version: string): version is CniVersion {
  return (supportedVersions as readonly string[]).includes(version);
}

/** Compares two dotted versions numerically: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const difference = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** The answer to `VERSION`. */
export function versionInfo(): string {
  return JSON.stringify({ cniVersion: latestVersion, supportedVersions });
}
