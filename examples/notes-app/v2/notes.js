// Reading and writing notes. v2: every note knows its word count.

/**
 * @typedef {{ id: number, text: string, words: number | null, createdAt: string }} Note
 */

/** The columns this version reads and writes; /healthz checks they exist. */
export const NOTE_COLUMNS = ['id', 'text', 'words', 'created_at'];

/** @param {string} text */
export function countWords(text) {
  return text.split(/\s+/).filter(Boolean).length;
}

/** @param {import('./db.js').Queryable} db */
export function createNoteStore(db) {
  return {
    /** @returns {Promise<Note[]>} */
    async list() {
      const rows = await db.query('SELECT id, text, words, created_at FROM notes ORDER BY id');
      return rows.map(toNote);
    },
    /**
     * @param {string} text
     * @returns {Promise<Note>}
     */
    async create(text) {
      const [row] = await db.query(
        'INSERT INTO notes (text, words, created_at) VALUES (?, ?, ?) RETURNING id, text, words, created_at',
        [text, countWords(text), new Date().toISOString()],
      );
      return toNote(row);
    },
  };
}

/** @param {Record<string, unknown>} row */
function toNote(row) {
  return {
    id: Number(row.id),
    text: String(row.text),
    // NULL for a note written by an older release after this one migrated.
    words: row.words === null || row.words === undefined ? null : Number(row.words),
    createdAt: String(row.created_at),
  };
}
