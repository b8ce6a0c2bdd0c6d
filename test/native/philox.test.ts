// Philox4x32-10 against the known-answer vectors published with Random123 (Salmon et al. 2011).
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon/load.js';

const hex = (v: Uint32Array) => Array.from(v, (x) => x.toString(16).padStart(8, '0')).join(' ');

describe('Philox4x32-10', () => {
  it('matches the Random123 known answers', () => {
    const philox = (c: number[], k: number[]) => hex(native().philox(Uint32Array.from(c), Uint32Array.from(k)));
    expect(philox([0, 0, 0, 0], [0, 0])).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    const f = 0xffffffff;
    expect(philox([f, f, f, f], [f, f])).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])).toBe(
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    );
  });
});
