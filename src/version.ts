/** Kite's own version and the Kubernetes API version it serves. */
export const KITE_VERSION = '0.1.0';
/** The upstream Kubernetes release whose API Kite serves. */
export const KUBERNETES_VERSION = '1.32.0';
