/**
 * Built-in resources served in a version other than the one they are stored
 * in, with the conversions between the two (upstream converts through the
 * internal version; Kite converts straight to and from the storage version).
 */
import { defaultHPAV1, hpaV1ToV2, hpaV2ToV1 } from './autoscaling.js';

/** How one served version of a built-in resource maps to its storage version. */
export interface VersionConversion {
  /** The version objects of this resource are stored in. */
  storageVersion: string;
  /** Served version → storage version, after the served version's defaults. Does not modify its argument. */
  toStorage(obj: any): any;
  /** Storage version → served version. Does not modify its argument. */
  fromStorage(obj: any): any;
}

const CONVERSIONS: Readonly<Record<string, VersionConversion>> = {
  'autoscaling/v1/horizontalpodautoscalers': {
    storageVersion: 'v2',
    toStorage: (obj) => {
      // v1 defaults apply to the v1 form before it is converted (upstream decodes, defaults, then converts).
      const v1 = { ...obj, spec: obj?.spec && typeof obj.spec === 'object' ? { ...obj.spec } : obj?.spec };
      defaultHPAV1(v1);
      return hpaV1ToV2(v1);
    },
    fromStorage: hpaV2ToV1,
  },
};

/** The conversion of a built-in `group/version/resource` that is not stored in its own version, or undefined. */
export function builtinConversion(group: string, version: string, resource: string): VersionConversion | undefined {
  return CONVERSIONS[`${group}/${version}/${resource}`];
}
