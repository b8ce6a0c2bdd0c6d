/**
 * Vectors from a comma-separated text file: one sample per row. The text is split into records by
 * csv-parse (RFC 4180: quoted fields, commas and line breaks inside quotes, `""` for a quote, LF,
 * CRLF or CR line ends), a well-kept parser rather than a hand-written one; the checks and the
 * row/column errors are pfgm's.
 *
 * @module
 */
import { CsvError, parse } from 'csv-parse/sync';
import { PfgmError } from '../errors.js';
import { baseName, MemoryDataset, readWhole } from './common.js';
import type { Dataset } from './dataset.js';

/** Options of {@link csv}. */
export interface CsvOptions {
  /**
   * The column holding an integer class label, if any: a 0-based column index (negative counts
   * from the end, `-1` = last column) or, when the file has a header row, the column's name. The
   * label column is not part of the vectors. The distinct label values, sorted, become classes
   * 0..K-1 (`labelDim` = K, `classNames` = the values as text), so labels 1, 2, 3 give classes
   * 0, 1, 2.
   */
  labelColumn?: number | string;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** One record of the file and the line it starts on (from 1). */
interface Row {
  cells: string[];
  line: number;
}

/** The file's records, each with its first line; blank records at the end dropped. */
function records(path: string, text: string): Row[] {
  let parsed: { record: string[]; info: { lines: number } }[];
  try {
    parsed = parse(text, {
      info: true,
      bom: true,
      trim: true,
      relax_column_count: true,
      skip_empty_lines: false,
      record_delimiter: ['\r\n', '\n', '\r'],
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    if (e instanceof CsvError) {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `csv file '${path}', row ${(e as CsvError & { lines?: number }).lines ?? '?'}: ${e.message.replace(/ at line \d+.*$/, '')}; ` +
          'quote a field that holds a comma, quote or line break with double quotes, and double the quotes inside it (RFC 4180)',
        { cause: e },
      );
    }
    throw e;
  }
  const rows: Row[] = [];
  let next = 1;
  for (const r of parsed) {
    rows.push({ cells: r.record, line: next });
    next = r.info.lines + 1;
  }
  const blank = (r: Row) => r.cells.length === 1 && (r.cells[0] as string).trim() === '';
  while (rows.length > 0 && blank(rows[rows.length - 1] as Row)) rows.pop();
  return rows;
}

function describeColumn(column: number, header: string[] | undefined): string {
  const name = header?.[column];
  return name !== undefined && name.length > 0 ? `column ${column + 1} ('${name}')` : `column ${column + 1}`;
}

/**
 * Opens a .csv file of numbers as a `vector` dataset of shape [N] (N = columns, less the label
 * column): one sample per row, cells separated by commas as RFC 4180 has them (quoted cells, CRLF
 * line ends; spaces around cells are ignored). The first row is a header when it is not all numbers. Blank lines at the end are
 * ignored. Every row must have the same number of columns, and every cell must be a finite
 * decimal number (NaN and Infinity are errors). The whole file is read into memory.
 *
 * Errors name rows and columns as a spreadsheet does: row = line of the file, from 1 (the header,
 * if any, is row 1); column from 1.
 *
 * @param path - the .csv file
 * @param options - see {@link CsvOptions}
 * @throws PfgmError `ERR_PFGM_ARGUMENT` for a missing or empty file, a bad cell or label;
 *   `ERR_PFGM_SHAPE` for rows of different lengths.
 */
export async function csv(path: string, options: CsvOptions = {}): Promise<Dataset> {
  const text = (await readWhole(path, 'csv file')).toString('utf8');
  const lines = records(path, text);
  if (lines.length === 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `csv file '${path}' is empty: write one sample per row`);
  }
  const firstCells = (lines[0] as Row).cells;
  const hasHeader = !firstCells.every((c) => NUMBER.test(c));
  const header = hasHeader ? firstCells : undefined;
  const firstData = hasHeader ? 1 : 0;
  const rows = lines.length - firstData;
  if (rows === 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `csv file '${path}' has a header row but no data rows`);
  }
  const columns = firstCells.length;

  let labelCol = -1;
  const lc = options.labelColumn;
  if (lc !== undefined) {
    if (typeof lc === 'number') {
      if (!Number.isInteger(lc) || lc < -columns || lc >= columns) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `csv file '${path}': labelColumn ${lc} is not a column: the file has ${columns} columns, ` +
            `so use an index in [0, ${columns - 1}] or a negative one from the end (-1 = last)`,
        );
      }
      labelCol = lc < 0 ? columns + lc : lc;
    } else if (typeof lc === 'string') {
      labelCol = header === undefined ? -1 : header.indexOf(lc);
      if (labelCol < 0) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          header === undefined
            ? `csv file '${path}' has no header row, so labelColumn '${lc}' cannot be found: give its 0-based index`
            : `csv file '${path}' has no column named '${lc}': its columns are ${header.map((h) => `'${h}'`).join(', ')}`,
        );
      }
    } else {
      throw new PfgmError(
        'ERR_PFGM_ARGUMENT',
        `csv(): labelColumn must be a column index or a header name, got ${JSON.stringify(lc)}`,
      );
    }
  }
  const N = columns - (labelCol >= 0 ? 1 : 0);
  if (N === 0) {
    throw new PfgmError('ERR_PFGM_ARGUMENT', `csv file '${path}' has only the label column: no values to train on`);
  }

  const data = new Float32Array(rows * N);
  const labelValues = labelCol >= 0 ? new Float64Array(rows) : undefined;
  for (let r = 0; r < rows; r++) {
    const row = lines[firstData + r] as Row;
    const rowName = `row ${row.line}`;
    if (row.cells.length === 1 && (row.cells[0] as string) === '') {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `csv file '${path}', ${rowName} is blank: remove blank lines between samples (only trailing ones are ignored)`,
      );
    }
    const cells = row.cells;
    if (cells.length !== columns) {
      throw new PfgmError(
        'ERR_PFGM_SHAPE',
        `csv file '${path}', ${rowName} has ${cells.length} columns but ${hasHeader ? 'the header' : 'row 1'} has ` +
          `${columns}: every row must have the same number of comma-separated values`,
      );
    }
    let k = r * N;
    for (let c = 0; c < columns; c++) {
      const cell = cells[c] as string;
      const where = `csv file '${path}', ${rowName}, ${describeColumn(c, header)}`;
      if (!NUMBER.test(cell)) {
        const why =
          cell === ''
            ? 'is empty'
            : /^[+-]?(nan|inf|infinity)$/i.test(cell)
              ? `is ${cell}: only finite numbers are allowed`
              : `'${cell.length > 40 ? `${cell.slice(0, 40)}...` : cell}' is not a number`;
        throw new PfgmError('ERR_PFGM_ARGUMENT', `${where} ${why}; fix or remove that row`);
      }
      const v = Number(cell);
      if (c === labelCol) {
        if (!Number.isSafeInteger(v)) {
          throw new PfgmError(
            'ERR_PFGM_ARGUMENT',
            `${where}: the label ${cell} is not an integer; class labels must be whole numbers`,
          );
        }
        (labelValues as Float64Array)[r] = v;
        continue;
      }
      const f = Math.fround(v);
      if (!Number.isFinite(f)) {
        throw new PfgmError(
          'ERR_PFGM_ARGUMENT',
          `${where}: ${cell} is beyond the float32 range (about 3.4e38); rescale the data`,
        );
      }
      data[k++] = f;
    }
  }

  let classes: Int32Array | undefined;
  let classNames: string[] | undefined;
  if (labelValues !== undefined) {
    const distinct = [...new Set(labelValues)].sort((a, b) => a - b);
    const index = new Map(distinct.map((v, i) => [v, i]));
    classes = new Int32Array(rows);
    for (let r = 0; r < rows; r++) classes[r] = index.get(labelValues[r] as number) as number;
    classNames = distinct.map(String);
  }

  return new MemoryDataset(
    {
      name: baseName(path),
      kind: 'vector',
      shape: [N],
      count: rows,
      labelDim: classNames?.length ?? 0,
      ...(classNames !== undefined ? { classNames } : {}),
    },
    (i, out, offset) => out.set(data.subarray(i * N, (i + 1) * N), offset),
    classes,
  );
}
