/**
 * What installing a release's images plans and reports: shared by the service images'
 * install (install-image.ts) and the accessory images' (install-accessory-images.ts).
 */
import type { ReleaseImage } from '../config/types.js';

/** What became of an accessory's reference on this host. */
export interface AccessoryImageOutcome {
  name: string;
  reference: string;
  /** 'tagged': the reference was free and now names the image; 'already': it named it; 'taken': it names another image here, left as it is */
  tag: 'tagged' | 'already' | 'taken';
  /** for 'taken': the image the reference names on this host */
  otherId?: string;
}

/** What happened to one image of the release. */
export interface ImageInstall {
  id: string;
  /** the services that run it (empty for an image only an accessory uses) */
  services: string[];
  /** set for an accessory's image: loaded (never started) and named by its reference, see install-accessory-images.ts */
  accessory?: AccessoryImageOutcome;
  /** 'present': the engine had it; 'loaded': brought in from the store; 'pulled': from the environment's registry, by digest; 'skipped': an accessory's image left alone (its reference names another image here) */
  how: 'present' | 'loaded' | 'pulled' | 'skipped';
  layers: number;
  /** layers fetched from the store or the registry (the others were in the engine already) */
  fetchedLayers: number;
  /** bytes read from the store or sent by the registry (compressed) */
  fetchedBytes: number;
  /** bytes of the layers fetched, uncompressed (0 when pulled: the registry says only compressed sizes) */
  layerBytes: number;
}

/** An image to fetch from the store (or pull) and load. */
export interface PlannedImage {
  image: ReleaseImage;
  services: string[];
  /** who needs it, for messages: "service web", "accessory db" */
  what: string;
  /** index of the first layer the engine lacks */
  held: number;
  /** the names the loaded image gets from the load itself (none: it is tagged afterwards) */
  repoTags: string[];
}
