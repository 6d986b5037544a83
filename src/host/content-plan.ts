/**
 * How an install gets each file's content: linked to an object the host has, copied from its
 * other mode's object, or fetched from the store (assemble-release.ts and assemble-delta.ts do it).
 */
import type { ReleaseManifest } from '../release/manifest.js';
import type { HostLayout } from './layout.js';
import { objectName, objectPath } from './objects.js';

/** A file an install writes: it becomes the host's object for its content and mode. */
export interface WriteTarget {
  mode: number;
  firstPath: string;
  /** the object it is linked in as; '' when that is left for later (pending-objects.ts) */
  objectFile: string;
  /** its index in the manifest */
  fileIndex: number;
}

/** How the files of a release get their contents: linked to an object the host has, copied from its other mode's object, or fetched. */
export interface ContentPlan {
  /** by digest: the files it becomes (the first of each mode; others with that content are linked after) */
  toFetch: Map<string, { size: number; targets: WriteTarget[] }>;
  copies: Array<WriteTarget & { from: string }>;
  /** files whose object the host has: [object, file, manifest index]; linked as soon as their folder is made */
  linkNow: Array<[string, string, number]>;
  /** files whose object this install writes (another file has the same content): linked once it is written */
  linkAfterFetch: Array<[string, string, number]>;
  /** files that are not links to an object the host had */
  newFiles: number;
}

/**
 * Plans the files of `manifest` at `indexes` (all of them by default); `at` places a manifest path in
 * the folder being made. With `deferObjects`, the files written are not linked in as objects (that is
 * left for later: pending-objects.ts), and a file sharing a content with one written is linked to it.
 */
export function planContents(o: { layout: HostLayout; manifest: ReleaseManifest; have: Set<string>; at: (rel: string) => string; indexes?: number[]; deferObjects?: boolean }): ContentPlan {
  const { layout, have, at } = o;
  const plan: ContentPlan = { toFetch: new Map(), copies: [], linkNow: [], linkAfterFetch: [], newFiles: 0 };
  /** object name -> the file written with that content */
  const planned = new Map<string, string>();
  const each = (fileIndex: number) => {
    const file = o.manifest.files[fileIndex]!;
    const name = objectName(file.sha256, file.mode);
    const objectFile = objectPath(layout, file.sha256, file.mode);
    if (have.has(name)) {
      plan.linkNow.push([objectFile, at(file.path), fileIndex]);
      return;
    }
    const writtenAs = planned.get(name);
    if (writtenAs !== undefined) {
      plan.linkAfterFetch.push([o.deferObjects ? writtenAs : objectFile, at(file.path), fileIndex]);
      return;
    }
    planned.set(name, at(file.path));
    const otherMode = file.mode === 0o755 ? 0o644 : 0o755;
    if (have.has(objectName(file.sha256, otherMode))) {
      plan.copies.push({ from: objectPath(layout, file.sha256, otherMode), mode: file.mode, firstPath: at(file.path), objectFile: o.deferObjects ? '' : objectFile, fileIndex });
      return;
    }
    const entry = plan.toFetch.get(file.sha256) ?? { size: file.size, targets: [] };
    entry.targets.push({ mode: file.mode, firstPath: at(file.path), objectFile: o.deferObjects ? '' : objectFile, fileIndex });
    plan.toFetch.set(file.sha256, entry);
  };
  if (o.indexes) o.indexes.forEach(each);
  else for (let i = 0; i < o.manifest.files.length; i++) each(i);
  for (const entry of plan.toFetch.values()) plan.newFiles += entry.targets.length;
  return plan;
}
