'use strict';
const { title } = require('textcase');

/** greet("ada lovelace") → "Hello, Ada Lovelace!" */
function greet(name) {
  const who = title(name || '');
  return `Hello, ${who || 'World'}!`;
}

module.exports = { greet };
