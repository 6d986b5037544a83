/**
 * Asserting expected failures: a SlipwayError with a given code, and optionally its
 * exit code and patterns for its message, hint and details. When the error is not
 * the one expected, the assertion message shows the whole actual error (or value).
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { SlipwayError } from '../../src/errors.js';

export interface ErrorExpectation {
  /** 1 (the operation failed) or 2 (usage or configuration) */
  exitCode?: number;
  message?: RegExp;
  /** the hint must be there and match (/./ for "has a hint") */
  hint?: RegExp;
  /** matched against the details joined by newlines */
  details?: RegExp;
  /** what was tried (a loop's input, say): starts every failure message */
  context?: string;
}

/** A message pattern alone, or several expectations. */
export type Expected = RegExp | ErrorExpectation;

/** The actual error as an assertion message shows it: class, code, exit code, message, hint, details. */
export function describeError(error: unknown): string {
  if (error instanceof SlipwayError) {
    const lines = [`SlipwayError ${error.code} (exit code ${error.exitCode}): ${error.message}`];
    if (error.hint !== undefined) lines.push(`hint: ${error.hint}`);
    for (const line of error.details) lines.push(`  ${line}`);
    return lines.join('\n');
  }
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return inspect(error, { depth: 4 });
}

/** Asserts that `error` is a SlipwayError with `code` and whatever `expected` adds. */
export function assertSlipwayError(error: unknown, code: string, expected: Expected = {}): asserts error is SlipwayError {
  const want = expected instanceof RegExp ? { message: expected } : expected;
  const context = contextOf(want);
  const got = () => `\ngot: ${describeError(error)}`;
  if (!(error instanceof SlipwayError)) assert.fail(`${context}expected a SlipwayError ${code}${got()}`);
  assert.equal(error.code, code, `${context}expected SlipwayError ${code}${got()}`);
  if (want.exitCode !== undefined) assert.equal(error.exitCode, want.exitCode, `${context}expected exit code ${want.exitCode}${got()}`);
  if (want.message) assert.match(error.message, want.message, `${context}expected a message matching ${want.message}${got()}`);
  if (want.hint) {
    assert.ok(error.hint !== undefined, `${context}expected a hint${got()}`);
    assert.match(error.hint, want.hint, `${context}expected a hint matching ${want.hint}${got()}`);
  }
  if (want.details) assert.match(error.details.join('\n'), want.details, `${context}expected details matching ${want.details}${got()}`);
}

/** Runs `fn` and returns the SlipwayError it throws; fails when it returns or throws anything else. */
export function expectThrows(fn: () => unknown, code: string, expected?: Expected): SlipwayError {
  let returned: unknown;
  try {
    returned = fn();
  } catch (error) {
    assertSlipwayError(error, code, expected);
    return error;
  }
  assert.fail(`${contextOf(expected)}expected ${code}, but it returned ${describeValue(returned)}`);
}

/**
 * Awaits `subject` (a promise, or a function that returns one or throws) and returns the
 * SlipwayError it rejects with; fails when it resolves or rejects with anything else.
 */
export async function expectRejects(subject: Promise<unknown> | (() => unknown), code: string, expected?: Expected): Promise<SlipwayError> {
  let returned: unknown;
  try {
    returned = await (typeof subject === 'function' ? subject() : subject);
  } catch (error) {
    assertSlipwayError(error, code, expected);
    return error;
  }
  assert.fail(`${contextOf(expected)}expected ${code}, but it resolved to ${describeValue(returned)}`);
}

function contextOf(expected: Expected | undefined): string {
  return expected === undefined || expected instanceof RegExp || expected.context === undefined ? '' : `${expected.context}: `;
}

function describeValue(value: unknown): string {
  return inspect(value, { depth: 2, breakLength: Infinity }).slice(0, 300);
}
