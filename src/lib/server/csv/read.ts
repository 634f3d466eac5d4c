import { CsvError, parse } from 'csv-parse/sync';
import {
  IMPORT_DELIMITERS,
  IMPORT_MAX_BYTES,
  type ImportDelimiter,
  type ImportEncoding,
} from '../../contracts/imports.ts';

/**
 * Reading an uploaded CSV file as a spreadsheet saved it: its encoding (UTF-8 with or
 * without a byte-order mark, UTF-16 with one, else Windows-1252, Excel's "CSV" on Western
 * Windows), its delimiter (`,`, or `;` and tab, which Excel writes where the comma is a
 * decimal mark), RFC 4180 quoting with line breaks inside cells. csv-parse does the parsing;
 * this module decides how to call it and says, in words, why a file cannot be read.
 */

export interface CsvTable {
  encoding: ImportEncoding;
  delimiter: ImportDelimiter;
  /** The first record: the columns' headers. */
  header: string[];
  /** The other records, each with its row number (the header is row 1). */
  records: { row: number; cells: string[] }[];
}

export type CsvReading =
  { status: 'read'; table: CsvTable } | { status: 'unreadable'; message: string };

const unreadable = (message: string): CsvReading => ({ status: 'unreadable', message });

/** Files people pick by mistake, known by their first bytes. */
const NOT_CSV: readonly [magic: number[], message: string][] = [
  [
    [0x50, 0x4b, 0x03, 0x04],
    'This is an Excel or LibreOffice workbook (.xlsx, .ods), not a CSV file. Save it as CSV (File › Save As › CSV UTF-8) and upload that.',
  ],
  [
    [0xd0, 0xcf, 0x11, 0xe0],
    'This is an old Excel workbook (.xls), not a CSV file. Save it as CSV (File › Save As › CSV UTF-8) and upload that.',
  ],
  [[0x25, 0x50, 0x44, 0x46], 'This is a PDF, not a CSV file.'],
];

const BINARY_MESSAGE =
  'This file is not text, so it cannot be a CSV file. Save the spreadsheet as CSV and upload that.';

const startsWith = (bytes: Uint8Array, magic: readonly number[]) =>
  magic.every((byte, index) => bytes[index] === byte);

/** The file's text and the encoding it was read as, or why it is not text. */
function decode(bytes: Uint8Array): { text: string; encoding: ImportEncoding } | string {
  if (startsWith(bytes, [0xef, 0xbb, 0xbf])) {
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(3));
      return { text, encoding: 'utf-8' };
    } catch {
      return 'The file says it is UTF-8 but is not: save it again as CSV UTF-8.';
    }
  }
  for (const [magic, encoding] of [
    [[0xff, 0xfe], 'utf-16le'],
    [[0xfe, 0xff], 'utf-16be'],
  ] as const) {
    if (startsWith(bytes, magic)) {
      try {
        const text = new TextDecoder(encoding, { fatal: true }).decode(bytes.subarray(2));
        return { text, encoding };
      } catch {
        return BINARY_MESSAGE;
      }
    }
  }
  // Text in any of these encodings has no NUL byte (UTF-16 without its mark is not read).
  if (bytes.includes(0)) return BINARY_MESSAGE;
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf-8' };
  } catch {
    // Every byte means something in Windows-1252, so this always reads; the preview says so.
    return { text: new TextDecoder('windows-1252').decode(bytes), encoding: 'windows-1252' };
  }
}

/**
 * The delimiter the header line uses most, outside quotes: Excel writes `;` where the
 * comma is a decimal mark, and "Unicode text" with tabs. A single column is `,`.
 */
function detectDelimiter(text: string): ImportDelimiter {
  const counts = new Map<ImportDelimiter, number>(IMPORT_DELIMITERS.map((d) => [d, 0]));
  let quoted = false;
  for (const character of text) {
    if (character === '"') quoted = !quoted;
    else if (!quoted && (character === '\n' || character === '\r')) break;
    else if (!quoted && counts.has(character as ImportDelimiter)) {
      counts.set(character as ImportDelimiter, counts.get(character as ImportDelimiter)! + 1);
    }
  }
  let best: ImportDelimiter = ',';
  for (const [delimiter, count] of counts) if (count > counts.get(best)!) best = delimiter;
  return best;
}

/** What csv-parse's refusals mean, for people. */
function parseFailure(error: CsvError): string {
  const where = typeof error.lines === 'number' ? ` (line ${error.lines})` : '';
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return `A quoted cell is never closed${where}: a " is missing.`;
    case 'CSV_INVALID_CLOSING_QUOTE':
      return `A quoted cell has text after its closing quote${where}.`;
    default:
      return `The file is not valid CSV${where}: ${error.message}`;
  }
}

/** An uploaded file's text and the encoding it was read in, or why it is not a text file. */
export function decodeCsvFile(
  bytes: Uint8Array,
):
  | { status: 'decoded'; text: string; encoding: ImportEncoding }
  | { status: 'unreadable'; message: string } {
  if (bytes.byteLength > IMPORT_MAX_BYTES) {
    return {
      status: 'unreadable',
      message: `The file is larger than ${IMPORT_MAX_BYTES / 1024 / 1024} MB.`,
    };
  }
  if (bytes.byteLength === 0) return { status: 'unreadable', message: 'The file is empty.' };
  for (const [magic, message] of NOT_CSV) {
    if (startsWith(bytes, magic)) return { status: 'unreadable', message };
  }
  const decoded = decode(bytes);
  if (typeof decoded === 'string') return { status: 'unreadable', message: decoded };
  // A NUL can come only from UTF-16 here; no cell may hold one (nor can the database).
  if (decoded.text.includes('\0')) return { status: 'unreadable', message: BINARY_MESSAGE };
  return { status: 'decoded', ...decoded };
}

/** An uploaded file's bytes as a table, or why they are not one. */
export function readCsv(bytes: Uint8Array): CsvReading {
  const decoded = decodeCsvFile(bytes);
  return decoded.status === 'decoded' ? readCsvText(decoded.text, decoded.encoding) : decoded;
}

/** A file's text (as decoded on upload) as a table. */
export function readCsvText(text: string, encoding: ImportEncoding): CsvReading {
  if (text.trim() === '') return unreadable('The file is empty.');
  const delimiter = detectDelimiter(text);
  let records: string[][];
  try {
    records = parse(text, {
      delimiter,
      // Cells may hold a lone quote (5" screen) and rows may end early (trailing cells left
      // out); both are read as they are and the row is checked afterwards.
      relax_quotes: true,
      relax_column_count: true,
      skip_empty_lines: false,
    }) as string[][];
  } catch (error) {
    if (error instanceof CsvError) return unreadable(parseFailure(error));
    throw error;
  }
  const [header = [], ...rest] = records;
  return {
    status: 'read',
    table: {
      encoding,
      delimiter,
      header,
      records: rest.map((cells, index) => ({ row: index + 2, cells })),
    },
  };
}
