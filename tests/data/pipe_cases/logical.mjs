// @logical: reference semantics (HotMesh's LogicalHandler) and cases. Both return an operand, as
// `&&` and `||` do in JavaScript, not a boolean.
export const reference = {
  and: (a, b) => a && b,
  or: (a, b) => a || b,
};

export const cases = [
  ['and', [true, true]],
  ['and', [true, false]],
  ['and', [1, 'x']],
  ['and', [0, 'x']],
  ['and', ['', 'x']],
  ['and', [null, 'x']],
  ['and', [undefined, 'x']],
  ['and', [NaN, 'x']],
  ['and', ['a', 0]],
  ['and', [[], {}]],
  ['and', [-0, 1]],
  ['and', ['false', 7]],
  ['and', [true]],
  ['or', [false, true]],
  ['or', [0, 'fallback']],
  ['or', ['', 'fallback']],
  ['or', ['value', 'fallback']],
  ['or', [null, undefined]],
  ['or', [undefined, null]],
  ['or', [NaN, 0]],
  ['or', [0, NaN]],
  ['or', [{}, 1]],
  ['or', [-0, -0]],
  ['or', ['0', 1]],
  ['or', [false]],
];
