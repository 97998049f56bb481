// The Protobuf codec's bytes for what the conformance vectors cannot reach
// cheaply: int64 fields, written as Protobuf writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protobuf } from '../../dist/protobuf.js';

const hex = (cmd) => Buffer.from(protobuf.encode([cmd])).toString('hex');

test('history limit: absent, 0, positive and negative (ten bytes of two\'s complement)', () => {
  const history = '12' + '07' + Buffer.from('history').toString('hex'); // field 2, type
  assert.equal(hex({ type: 'history' }), '09' + history);
  assert.equal(hex({ type: 'history', limit: 0 }), '0b' + history + '5800');
  assert.equal(hex({ type: 'history', limit: 300 }), '0c' + history + '58ac02');
  assert.equal(hex({ type: 'history', limit: -1 }), '14' + history + '58' + 'ff'.repeat(9) + '01');
  assert.equal(hex({ type: 'history', limit: -(2 ** 40) }), '14' + history + '58' + '8080808080e0ffffff01');
});
