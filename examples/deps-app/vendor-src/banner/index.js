'use strict';
const textcase = require('textcase');

/** banner("hello") → "*** HELLO ***" (textcase 2's shout, which textcase 1 does not have) */
function banner(text) {
  return `*** ${textcase.shout(text)} ***`;
}

module.exports = { banner, textcaseMajor: textcase.major };
