/**
 * Finds where a value sits in the YAML source, so each problem can name the
 * exact line and column of the key or value it is about.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';

export interface YamlSource {
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

export interface SourcePosition {
  /** 1-based */
  line: number;
  /** 1-based */
  column: number;
}

export type PathSegment = string | number;

/** The text of a mapping key, or undefined for keys that are not scalars. */
export function keyText(pair: Pair): string | undefined {
  return isScalar(pair.key) ? String(pair.key.value) : undefined;
}

export function positionOfOffset(source: YamlSource, offset: number): SourcePosition {
  const { line, col } = source.lineCounter.linePos(offset);
  return { line, column: col };
}

function positionOfNode(source: YamlSource, node: Node | null | undefined): SourcePosition {
  const offset = node?.range?.[0];
  return offset === undefined ? { line: 1, column: 1 } : positionOfOffset(source, offset);
}

function resolve(source: YamlSource, node: unknown): unknown {
  return isAlias(node) ? node.resolve(source.doc) : node;
}

/**
 * Position of the value at `path`, or of its key when `at` is 'key'. When the path
 * leads nowhere (a missing key), the deepest mapping or list that exists is used,
 * which for a missing required key is its parent mapping.
 */
export function locate(source: YamlSource, path: readonly PathSegment[], at: 'value' | 'key' = 'value'): SourcePosition {
  let current: unknown = source.doc.contents;
  for (let index = 0; index < path.length; index++) {
    const segment = path[index];
    current = resolve(source, current);
    if (isMap(current)) {
      const pair = current.items.find((item) => keyText(item) === String(segment));
      if (pair === undefined) break;
      const isLast = index === path.length - 1;
      // `key:` with nothing after it has no value node worth pointing at: point at the key.
      const value = resolve(source, pair.value);
      if ((isLast && at === 'key') || value === null || value === undefined || isEmptyScalar(value)) {
        return positionOfNode(source, pair.key as Node);
      }
      current = pair.value;
    } else if (isSeq(current)) {
      const item = current.items[Number(segment)];
      if (item === undefined || item === null) break;
      current = item;
    } else {
      break;
    }
  }
  return positionOfNode(source, current as Node | null);
}

function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null && (node.source === undefined || node.source === '');
}

/** The path of the mapping key that starts at `offset` (used to name duplicate keys), or undefined. */
export function pathOfKeyAt(source: YamlSource, offset: number): PathSegment[] | undefined {
  const search = (node: unknown, path: PathSegment[]): PathSegment[] | undefined => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = keyText(pair);
        if (key === undefined) continue;
        if ((pair.key as Node).range?.[0] === offset) return [...path, key];
        const found = search(pair.value, [...path, key]);
        if (found) return found;
      }
    } else if (isSeq(node)) {
      for (let index = 0; index < node.items.length; index++) {
        const found = search(node.items[index], [...path, index]);
        if (found) return found;
      }
    }
    return undefined;
  };
  return search(source.doc.contents, []);
}

/** Calls `visit` for every scalar in the document (keys and values) with its path and node. */
export function forEachScalar(
  source: YamlSource,
  visit: (scalar: { value: unknown; node: Node; path: PathSegment[]; isKey: boolean }) => void,
): void {
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (isScalar(node)) {
      visit({ value: node.value, node, path, isKey: false });
    } else if (isMap(node)) {
      for (const pair of node.items) {
        const key = keyText(pair);
        if (isScalar(pair.key)) visit({ value: pair.key.value, node: pair.key, path: [...path, key ?? '?'], isKey: true });
        walk(pair.value, [...path, key ?? '?']);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => walk(item, [...path, index]));
    }
  };
  walk(source.doc.contents, []);
}

/** `services.web.health.interval`, `build.commands[1]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}
