// How a function's answer to an SQS batch is read with ReportBatchItemFailures (as Lambda reads it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failedItems } from '../../../src/events/pollers/sqs-event.js';

const ids = new Set(['a', 'b', 'c']);
const read = (s: string) => failedItems(Buffer.from(s), ids);

test('an empty answer means every item succeeded', () => assert.deepEqual(read(''), new Set()));
test('a null answer means every item succeeded', () => assert.deepEqual(read('null'), new Set()));
test('an answer without batchItemFailures means every item succeeded', () =>
  assert.deepEqual(read('{"ok":true}'), new Set()));
test('an empty batchItemFailures list means every item succeeded', () =>
  assert.deepEqual(read('{"batchItemFailures":[]}'), new Set()));
test('the listed item identifiers are the failed ones', () =>
  assert.deepEqual(
    read('{"batchItemFailures":[{"itemIdentifier":"b"},{"itemIdentifier":"c"}]}'),
    new Set(['b', 'c']),
  ));
test('an identifier not in the batch fails the whole batch', () =>
  assert.equal(read('{"batchItemFailures":[{"itemIdentifier":"zzz"}]}'), 'all'));
test('an empty identifier fails the whole batch', () =>
  assert.equal(read('{"batchItemFailures":[{"itemIdentifier":""}]}'), 'all'));
test('a missing identifier fails the whole batch', () =>
  assert.equal(read('{"batchItemFailures":[{}]}'), 'all'));
test('batchItemFailures that is not a list fails the whole batch', () =>
  assert.equal(read('{"batchItemFailures":"b"}'), 'all'));
test('an answer that is not JSON fails the whole batch', () => assert.equal(read('not json'), 'all'));
test('an answer that is a list fails the whole batch', () => assert.equal(read('["b"]'), 'all'));
test('an answer that is a string fails the whole batch', () => assert.equal(read('"b"'), 'all'));
