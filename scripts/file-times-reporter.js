// A test reporter that writes, per test file, the wall time of its top-level tests (one JSON
// object per line: { file, ms }), and the tests passed and failed at every level, so run-tests.js
// can name the slowest files and end with one "N passed, N failed" line.
export default async function* fileTimes(source) {
  const perFile = new Map();
  const counts = { passed: 0, failed: 0 };
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    if (data.details?.type !== 'suite' && !data.skip && !data.todo) counts[event.type === 'test:pass' ? 'passed' : 'failed'] += 1;
    if (data.nesting === 0 && data.file) perFile.set(data.file, (perFile.get(data.file) ?? 0) + (data.details?.duration_ms ?? 0));
  }
  for (const [file, ms] of perFile) yield `${JSON.stringify({ file, ms: Math.round(ms) })}\n`;
  yield `${JSON.stringify({ counts })}\n`;
}
