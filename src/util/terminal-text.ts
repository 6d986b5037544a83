/**
 * Text that comes from the store or a release (who, why, notes, versions, commit
 * messages) is written by whoever could write there. Before it reaches a log, a
 * terminal or the dashboard, control characters are shown as escapes, so it can
 * neither move the cursor, clear the screen, set a window title, nor forge a line.
 */

// C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and bidirectional overrides.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_EXCEPT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escape(char: string): string {
  if (char === '\n') return '\\n';
  if (char === '\r') return '\\r';
  if (char === '\t') return '\\t';
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A single-line field: every control character, newlines included, shown as an escape (ESC as \x1b). */
export function printable(text: string): string {
  return text.replace(CONTROL, escape);
}

/** Text of several lines (release notes, a commit message): newlines kept, every other control character escaped. */
export function printableLines(text: string): string {
  return text.replace(CONTROL_EXCEPT_NEWLINE, escape);
}
