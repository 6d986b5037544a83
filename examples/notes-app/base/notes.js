// Reading and writing notes.

/**
 * @typedef {{ id: number, text: string, createdAt: string }} Note
 */

/** The columns this version reads and writes; /healthz checks they exist. */
export const NOTE_COLUMNS = ['id', 'text', 'created_at'];

/** @param {import('./db.js').Queryable} db */
export function createNoteStore(db) {
  return {
    /** @returns {Promise<Note[]>} */
    async list() {
      const rows = await db.query('SELECT id, text, created_at FROM notes ORDER BY id');
      return rows.map(toNote);
    },
    /**
     * @param {string} text
     * @returns {Promise<Note>}
     */
    async create(text) {
      const [row] = await db.query('INSERT INTO notes (text, created_at) VALUES (?, ?) RETURNING id, text, created_at', [
        text,
        new Date().toISOString(),
      ]);
      return toNote(row);
    },
  };
}

/** @param {Record<string, unknown>} row */
function toNote(row) {
  return { id: Number(row.id), text: String(row.text), createdAt: String(row.created_at) };
}
