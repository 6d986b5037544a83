/**
 * The globs of `build.include` / `build.exclude`, matched against posix paths relative
 * to the build folder (Node 20 has no path.matchesGlob).
 *
 * - `*` matches any characters except `/`, `?` one character except `/`;
 * - `**` matches any number of whole folders (`a/**\/b`, `**\/x`, `dist/**`);
 * - a pattern without `/` matches at any depth, like .gitignore (`*.map`, `node_modules`);
 *   a leading `/` anchors it to the root (`/README.md`);
 * - a pattern that matches a folder matches everything inside it (`dist` = `dist/**`).
 * Every other character is literal.
 */

export function globToRegExp(pattern: string): RegExp {
  let p = pattern.trim().replace(/^\.\//, '');
  let anchored = false;
  if (p.startsWith('/')) {
    anchored = true;
    p = p.replace(/^\/+/, '');
  }
  p = p.replace(/\/+$/, '');
  if (!anchored && !p.includes('/')) p = `**/${p}`;

  let body = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*' && p[i + 1] === '*') {
      const atSegmentStart = i === 0 || p[i - 1] === '/';
      const atSegmentEnd = i + 2 === p.length || p[i + 2] === '/';
      if (atSegmentStart && p[i + 2] === '/') {
        body += '(?:[^/]+/)*'; // "**/": zero or more folders
        i += 2;
      } else if (atSegmentStart && atSegmentEnd) {
        body += '.*'; // trailing "**"
        i += 1;
      } else {
        body += '[^/]*'; // "**" inside a segment behaves like "*"
        i += 1;
      }
    } else if (c === '*') {
      body += '[^/]*';
    } else if (c === '?') {
      body += '[^/]';
    } else {
      body += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
  }
  return new RegExp(`^${body}(?:/.*)?$`);
}

/** A compiled list of globs; `matches(path)` is true when any of them matches. */
export function compileGlobs(patterns: readonly string[]): { matches(relPath: string): boolean; empty: boolean } {
  const regexps = patterns.map(globToRegExp);
  return {
    empty: regexps.length === 0,
    matches: (relPath) => regexps.some((r) => r.test(relPath)),
  };
}
