'use strict';

/** "ada  LOVELACE" → "Ada Lovelace" */
function title(text) {
  return String(text)
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1).toLowerCase())
    .join(' ');
}

/** "Ada Lovelace" → "ada-lovelace" */
function kebab(text) {
  return String(text)
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

module.exports = { title, kebab };
