// @symbol: reference semantics (HotMesh's SymbolHandler) and cases. `date` reads the clock, which
// the engine passes in (PipeEnv.now_ms); here the fixed env stands in for it.
export const env = { nowMs: 1767225600000, fidelitySeconds: 5 };

export const reference = {
  null: () => null,
  undefined: () => undefined,
  whitespace: () => ' ',
  object: () => ({}),
  array: () => [],
  posInfinity: () => Infinity,
  negInfinity: () => -Infinity,
  NaN: () => NaN,
  date: () => new Date(env.nowMs),
};

export const cases = [
  ['null', []],
  ['undefined', []],
  ['whitespace', []],
  ['object', []],
  ['array', []],
  ['posInfinity', []],
  ['negInfinity', []],
  ['NaN', []],
  ['date', []],
];
