/** What the webhook's tests send it: AdmissionReviews of IPPools, as kube-apiserver writes them. */

/** How kube-apiserver names the IPPool kind and resource in an AdmissionRequest. */
export const ipPoolKind = { group: 'ipam.topology-ipam.dev', version: 'v1alpha1', kind: 'IPPool' };
export const ipPoolResource = { group: 'ipam.topology-ipam.dev', version: 'v1alpha1', resource: 'ippools' };

/**
 * An admission.k8s.io/v1 AdmissionReview of an IPPool; `request` adds the uid, the operation, the
 * objects and whatever else the test needs to what every such request carries.
 */
export function ipPoolReview(
  request: { readonly uid: string; readonly operation: string } & Readonly<Record<string, unknown>>,
) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { kind: ipPoolKind, resource: ipPoolResource, ...request },
  };
}
