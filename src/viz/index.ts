/**
 * `pfgm/viz`: the pictures pfgm draws, as PNG bytes without a browser or native library: image
 * grids, line and scatter plots with "nice" ticks, and the bitmap font they label with
 * (docs/plots.md). A subpath of its own, so the root export holds the generative-model API.
 *
 * @example
 * ```ts
 * import { linePlot } from 'pfgm/viz';
 * writeFileSync('loss.png', linePlot([{ name: 'loss', x: steps, y: losses }], { logY: true }));
 * ```
 *
 * @module
 */
export {
  type DrawTextOptions,
  drawText,
  GLYPH_ADVANCE,
  GLYPH_HEIGHT,
  GLYPH_WIDTH,
  glyphRows,
  hasGlyph,
  LINE_HEIGHT,
  textHeight,
  textWidth,
} from './font.js';
export { gridImage, type ImageGridOptions, imageGrid, toByte } from './grid.js';
export {
  type LinePlotImage,
  type LinePlotOptions,
  type LineSeries,
  lineImage,
  linePlot,
  PLOT_COLORS,
  type PlotFrame,
} from './lines.js';
export { type Rgb, type ScatterPlotOptions, scatterImage, scatterPlot } from './scatter.js';
export { formatTicks, type NiceTicksOptions, niceTicks } from './ticks.js';
