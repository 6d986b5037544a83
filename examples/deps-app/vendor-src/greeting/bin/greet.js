#!/usr/bin/env node
'use strict';
const { greet } = require('..');

console.log(greet(process.argv.slice(2).join(' ')));
