'use strict';

const SMALL = new Set(['a', 'an', 'and', 'of', 'the', 'to']);

/** "the art of code" → "The Art of Code" */
function title(text) {
  return String(text)
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((word, i) => (i > 0 && SMALL.has(word.toLowerCase()) ? word.toLowerCase() : word.charAt(0).toUpperCase() + word.slice(1).toLowerCase()))
    .join(' ');
}

/** "hi there" → "HI THERE" */
function shout(text) {
  return String(text).toUpperCase();
}

module.exports = { title, shout, major: 2 };
