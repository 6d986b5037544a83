/** `KEY=VALUE` entries (NUL-separated as in /proc/<pid>/environ, or newline-separated as `env` prints them) as a map. */
export function parseEnv(text: string, separator: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of text.split(separator)) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}
