// float64 references of the inference ops that the FID Inception runs through the backends
// (src/native/nn/backend_ops.h: conv2d_inference_forward, the pools, resize_bilinear_forward,
// place_channels), written from PyTorch's definitions as direct loops over NHWC arrays. The rows of
// test/native/backend-ops.test.ts check every device against them.

type Numbers = Record<string, number>;
type Arrays = Record<string, Float32Array>;
type Values = Record<string, ArrayLike<number>>;

const at = (x: Float32Array | undefined, i: number) => (x as Float32Array)[i] as number;

/** Attribute k of a row, or `fallback` when the row leaves it out. */
function attr(a: Numbers, k: string, fallback?: number): number {
  const v = a[k] ?? fallback;
  if (v === undefined) throw new Error(`attribute '${k}' is missing`);
  return v;
}

/** relu?(conv(x [n, h, w, cin], weight [cout, kh, kw, cin]) + bias), per-axis stride and zero padding. */
export function convInferenceRef(a: Numbers, x: Arrays): Values {
  const [n, h, w, cin, cout, kh, kw] = [
    attr(a, 'n'),
    attr(a, 'h'),
    attr(a, 'w'),
    attr(a, 'cin'),
    attr(a, 'cout'),
    attr(a, 'kh'),
    attr(a, 'kw'),
  ];
  const [sh, sw, ph, pw] = [attr(a, 'stride_h', 1), attr(a, 'stride_w', 1), attr(a, 'pad_h', 0), attr(a, 'pad_w', 0)];
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const y = new Float64Array(n * oh * ow * cout);
  for (let s = 0; s < n; s++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let o = 0; o < cout; o++) {
          let acc = x.bias ? at(x.bias, o) : 0;
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const [iy, ix] = [oy * sh - ph + ky, ox * sw - pw + kx];
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              for (let i = 0; i < cin; i++) {
                acc += at(x.weight, ((o * kh + ky) * kw + kx) * cin + i) * at(x.x, ((s * h + iy) * w + ix) * cin + i);
              }
            }
          }
          y[((s * oh + oy) * ow + ox) * cout + o] = a.relu ? Math.max(acc, 0) : acc;
        }
      }
    }
  }
  return { y };
}

/** F.max_pool2d / F.avg_pool2d (floor mode) with `mode` 'max', 'avg' (count_include_pad from a), NHWC. */
export function poolRef(mode: 'max' | 'avg') {
  return (a: Numbers, x: Arrays): Values => {
    const [n, h, w, c, kh, kw] = [attr(a, 'n'), attr(a, 'h'), attr(a, 'w'), attr(a, 'c'), attr(a, 'kh'), attr(a, 'kw')];
    const [sh, sw, ph, pw] = [attr(a, 'stride_h', 1), attr(a, 'stride_w', 1), attr(a, 'pad_h', 0), attr(a, 'pad_w', 0)];
    const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
    const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
    const y = new Float64Array(n * oh * ow * c);
    for (let s = 0; s < n; s++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          for (let ch = 0; ch < c; ch++) {
            let [best, sum, inside] = [Number.NEGATIVE_INFINITY, 0, 0];
            for (let ky = 0; ky < kh; ky++) {
              for (let kx = 0; kx < kw; kx++) {
                const [iy, ix] = [oy * sh - ph + ky, ox * sw - pw + kx];
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const v = at(x.x, ((s * h + iy) * w + ix) * c + ch);
                best = Math.max(best, v);
                sum += v;
                inside++;
              }
            }
            y[((s * oh + oy) * ow + ox) * c + ch] =
              mode === 'max' ? best : sum / (a.count_include_pad ? kh * kw : inside);
          }
        }
      }
    }
    return { y };
  };
}

/** F.adaptive_avg_pool2d to (oh, ow): windows [floor(i h / oh), ceil((i + 1) h / oh)), NHWC. */
export function adaptiveAvgRef(a: Numbers, x: Arrays): Values {
  const [n, h, w, c, oh, ow] = [attr(a, 'n'), attr(a, 'h'), attr(a, 'w'), attr(a, 'c'), attr(a, 'oh'), attr(a, 'ow')];
  const y = new Float64Array(n * oh * ow * c);
  for (let s = 0; s < n; s++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const [y0, y1] = [Math.floor((oy * h) / oh), Math.ceil(((oy + 1) * h) / oh)];
        const [x0, x1] = [Math.floor((ox * w) / ow), Math.ceil(((ox + 1) * w) / ow)];
        for (let ch = 0; ch < c; ch++) {
          let sum = 0;
          for (let iy = y0; iy < y1; iy++) {
            for (let ix = x0; ix < x1; ix++) sum += at(x.x, ((s * h + iy) * w + ix) * c + ch);
          }
          y[((s * oh + oy) * ow + ox) * c + ch] = sum / ((y1 - y0) * (x1 - x0));
        }
      }
    }
  }
  return { y };
}

/** F.interpolate(mode='bilinear', align_corners=False) to (oh, ow), NHWC; an unchanged axis is copied. */
export function resizeBilinearRef(a: Numbers, x: Arrays): Values {
  const [n, h, w, c, oh, ow] = [attr(a, 'n'), attr(a, 'h'), attr(a, 'w'), attr(a, 'c'), attr(a, 'oh'), attr(a, 'ow')];
  const taps = (size: number, out: number, d: number): [number, number, number, number] => {
    if (size === out) return [d, d, 1, 0];
    const src = Math.max((size / out) * (d + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), size - 1);
    const l1 = Math.min(Math.max(src - i0, 0), 1);
    return [i0, Math.min(i0 + 1, size - 1), 1 - l1, l1];
  };
  const y = new Float64Array(n * oh * ow * c);
  for (let s = 0; s < n; s++) {
    for (let oy = 0; oy < oh; oy++) {
      const [y0, y1, wy0, wy1] = taps(h, oh, oy);
      for (let ox = 0; ox < ow; ox++) {
        const [x0, x1, wx0, wx1] = taps(w, ow, ox);
        for (let ch = 0; ch < c; ch++) {
          const v = (iy: number, ix: number) => at(x.x, ((s * h + iy) * w + ix) * c + ch);
          y[((s * oh + oy) * ow + ox) * c + ch] =
            wy0 * (wx0 * v(y0, x0) + wx1 * v(y0, x1)) + wy1 * (wx0 * v(y1, x0) + wx1 * v(y1, x1));
        }
      }
    }
  }
  return { y };
}

/** y (given as the input `y`) with channels [offset, offset + c) of every pixel replaced by x's. */
export function placeChannelsRef(a: Numbers, x: Arrays): Values {
  const [pixels, c, cy, offset] = [attr(a, 'pixels'), attr(a, 'c'), attr(a, 'cy'), attr(a, 'offset')];
  const y = Float64Array.from(x.y as Float32Array);
  for (let p = 0; p < pixels; p++) {
    for (let j = 0; j < c; j++) y[p * cy + offset + j] = at(x.x, p * c + j);
  }
  return { y };
}
