import { z } from 'zod';
import { MAX_ROW_ID } from './ids.ts';

/**
 * CSV import: its limits, and the report a preview (or a refused import) gives, shared by
 * the Import page, the API and the OpenAPI document.
 */

export const IMPORT_MAX_BYTES = 10 * 1024 * 1024;
/** Rows of items, the header line and blank rows not counted. */
export const IMPORT_MAX_ROWS = 50_000;
/** How long an uploaded file waits for its confirmation. */
export const IMPORT_HOLD_MINUTES = 60;

export const IMPORT_ENCODINGS = ['utf-8', 'utf-16le', 'utf-16be', 'windows-1252'] as const;
export type ImportEncoding = (typeof IMPORT_ENCODINGS)[number];

export const IMPORT_DELIMITERS = [',', ';', '\t'] as const;
export type ImportDelimiter = (typeof IMPORT_DELIMITERS)[number];

/** The export's columns, in order: the import reads the same. */
export const CSV_COLUMNS = [
  'id',
  'name',
  'amount',
  'description',
  'location',
  'tags',
  'min_amount',
] as const;
export type CsvColumn = (typeof CSV_COLUMNS)[number];

const rowNumber = z.int().min(1).meta({
  description: 'The row as a spreadsheet numbers it: the header is row 1.',
});

export const importProblemSchema = z.strictObject({
  row: rowNumber.nullable().meta({ description: 'Null for a problem with the whole file.' }),
  column: z.string().nullable().meta({ description: "The column's header as the file has it." }),
  message: z.string(),
  value: z.string().nullable().meta({ description: 'The cell as the file has it.' }),
});
export type ImportProblemJson = z.output<typeof importProblemSchema>;

const itemValues = {
  name: z.string(),
  amount: z.int().min(0),
  description: z.string(),
  location: z.string().nullable().meta({ description: 'Its path: "Garage / Shelf 2".' }),
  tags: z.array(z.string()),
  min_amount: z.int().min(0).nullable(),
};

export const importReportSchema = z.strictObject({
  encoding: z.enum(IMPORT_ENCODINGS),
  delimiter: z.enum(IMPORT_DELIMITERS),
  columns: z
    .array(z.strictObject({ header: z.string(), field: z.enum(CSV_COLUMNS) }))
    .meta({ description: "Each column the file has, and the item's field it was read as." }),
  rows: z.int().min(0).meta({ description: 'Rows of items in the file.' }),
  unchanged: z.int().min(0).meta({ description: 'Rows with an id whose item is already so.' }),
  add: z.array(z.strictObject({ row: rowNumber, ...itemValues })),
  update: z.array(
    z.strictObject({
      row: rowNumber,
      id: z.int().min(1).max(MAX_ROW_ID),
      name: z.string().meta({ description: "The item's name before the import." }),
      changes: z.array(
        z.strictObject({
          field: z.enum(['name', 'amount', 'description', 'location', 'tags', 'min_amount']),
          before: z.union([z.string(), z.int(), z.array(z.string())]).nullable(),
          after: z.union([z.string(), z.int(), z.array(z.string())]).nullable(),
        }),
      ),
    }),
  ),
  new_locations: z.array(z.string()).meta({ description: 'Paths of the locations it makes.' }),
  new_tags: z.array(z.string()).meta({ description: 'Names of the tags it makes.' }),
  notices: z.array(z.string()).meta({ description: 'What was guessed about the file.' }),
  problems: z.array(importProblemSchema).meta({
    description: 'Every problem; an import with any applies nothing.',
  }),
});
export type ImportReportJson = z.output<typeof importReportSchema>;

export const importResultSchema = z.strictObject({
  change_id: z.int().min(1).nullable().meta({
    description:
      'The change to undo the import by; null for a dry run or a file that changes nothing.',
  }),
  report: importReportSchema,
});

export const importRefusedSchema = z.strictObject({
  error: z.strictObject({ code: z.literal('import_refused'), message: z.string() }),
  report: importReportSchema.nullable().meta({
    description: 'Null when the file could not be read at all.',
  }),
});

export const importQuerySchema = z.object({
  dry_run: z
    .enum(['true', 'false'], { error: 'dry_run is true or false.' })
    .default('false')
    .transform((value) => value === 'true'),
});
