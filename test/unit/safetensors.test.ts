import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../../src/codecs/safetensors.js';
import { PfgmError } from '../../src/errors.js';

/** A safetensors file from a raw header text and data bytes. */
function file(header: string, data: Uint8Array | number = 0): Uint8Array {
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const head = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + head.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(body, 8 + head.length);
  return out;
}

function refused(bytes: Uint8Array, message: RegExp): void {
  let error: unknown;
  try {
    decodeSafetensors(bytes);
  } catch (e) {
    error = e;
  }
  expect(error, `expected ${message}`).toBeInstanceOf(PfgmError);
  expect((error as PfgmError).code).toBe('ERR_PFGM_ARGUMENT');
  expect((error as PfgmError).message).toMatch(message);
}

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

describe('decodeSafetensors validates the header against the format', () => {
  it('round-trips what encodeSafetensors writes, empty tensors and metadata included', () => {
    const bytes = encodeSafetensors(
      [
        ['a', { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }],
        ['empty', { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) }],
        ['b', { dtype: 'U8', shape: [3], data: Uint8Array.of(7, 8, 9) }],
      ],
      { note: 'x' },
    );
    const f = decodeSafetensors(bytes);
    expect([...f.tensors.keys()]).toEqual(['a', 'empty', 'b']);
    expect([...(f.tensors.get('a')?.data ?? [])]).toEqual([1, 2]);
    expect([...(f.tensors.get('b')?.data ?? [])]).toEqual([7, 8, 9]);
    expect(f.metadata).toEqual({ note: 'x' });
    // ranges listed out of data order are fine as long as they tile the data
    const swapped = file(
      '{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
      f32([1, 2]),
    );
    expect(decodeSafetensors(swapped).tensors.get('b')?.data[0]).toBe(2);
  });

  it('refuses overlapping byte ranges (the probe: both tensors read the same bytes)', () => {
    refused(
      file(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
        12,
      ),
      /tensor 'b'.*overlaps/,
    );
    refused(
      file(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
        8,
      ),
      /overlaps/,
    );
  });

  it('refuses a duplicated tensor name (JSON.parse would keep the last silently)', () => {
    refused(
      file(
        '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}, "w" :{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        8,
      ),
      /'w' appears more than once/,
    );
    // a nested "w" key, or a string value "w", is not a duplicate
    expect(
      decodeSafetensors(file('{"__metadata__":{"w":"w"},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1))
        .tensors.size,
    ).toBe(1);
  });

  it('refuses gaps, ranges past the data and trailing bytes', () => {
    refused(file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}', 4), /tensor 'a' starts at byte 2.*unused/);
    refused(file('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}', 2), /tensor 'a'.*does not fit/);
    refused(file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}', 3), /ends at byte 2.*3 bytes/);
  });

  it('refuses a null header or entry with a coded error, not a TypeError', () => {
    refused(file('null'), /header is null, not a JSON object/);
    refused(file('[1,2]'), /not a JSON object/);
    refused(file('"x"'), /not a JSON object/);
    refused(file('{"a":null}'), /tensor 'a' is null, not an object/);
    refused(file('{"a":7}'), /tensor 'a' is 7/);
    refused(file('{"__metadata__":null}'), /__metadata__ is null/);
    refused(file('{"__metadata__":{"k":1}}'), /__metadata__ 'k' is 1, not a string/);
  });

  it('refuses negative, fractional and string shapes', () => {
    const entry = (shape: string, offsets = '[0,4]') =>
      file(`{"t":{"dtype":"F32","shape":${shape},"data_offsets":${offsets}}}`, 4);
    refused(entry('[-1,-1]'), /tensor 't' has shape \[-1,-1\]/);
    refused(entry('[0.5,2]'), /tensor 't' has shape \[0.5,2\]/);
    refused(entry('["1"]'), /tensor 't' has shape \["1"\]/);
    refused(entry('"1"'), /tensor 't' lacks a shape/);
    refused(entry('[1e300,1e300]'), /tensor 't' has shape/);
    refused(entry('[4294967296,4294967296]'), /needs \d+ bytes/);
  });

  it('refuses bad dtypes and offsets', () => {
    refused(
      file('{"t":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', 1),
      /tensor 't' has unsupported dtype "F8_E4M3"/,
    );
    refused(file('{"t":{"dtype":"constructor","shape":[1],"data_offsets":[0,1]}}', 1), /unsupported dtype/);
    refused(file('{"t":{"dtype":"U8","shape":[1]}}', 1), /tensor 't' lacks data_offsets/);
    refused(file('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}', 1), /lacks data_offsets/);
    refused(file('{"t":{"dtype":"U8","shape":[1],"data_offsets":[2,1]}}', 2), /begin <= end/);
    refused(file('{"t":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', 1), /non-negative integers/);
    refused(file('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,0.5]}}', 1), /non-negative integers/);
    refused(file('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4), /needs 8 bytes/);
  });

  it('refuses framing problems', () => {
    refused(new Uint8Array(3), /shorter than the 8-byte/);
    const big = file('{}');
    new DataView(big.buffer).setBigUint64(0, 2n ** 63n, true);
    refused(big, /header claims/);
    refused(file('{"a":'), /not UTF-8 JSON/);
    refused(file('{"a\xff":1}'.replace('\xff', '\ud800')), /not UTF-8 JSON|not an object/);
  });
});
