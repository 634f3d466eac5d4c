/**
 * Reads what `manage.py dumpdata` writes, a JSON array of objects, one record at a time, so a
 * dump of any size needs memory for one record only.
 *
 * A small scanner finds where each top-level element starts and ends: it follows strings
 * (with their escapes) and the nesting of `{}` / `[]`, and nothing else. Each element's text is
 * then given to `JSON.parse`, which does the exact work: escapes, surrogate pairs, numbers,
 * and errors. Whitespace and line breaks anywhere are fine, so the `--indent` form and the
 * one-line form both read. A record that is not valid JSON, or that is nested deeper than
 * `MAX_RECORD_DEPTH`, is reported and reading goes on with the next one; a break in the array
 * itself stops reading (`DumpSyntaxError`).
 */

export interface DumpEntry {
  /** 1-based position of the record in the array. */
  index: number;
  /** Line of the file on which the record starts. */
  line: number;
  /** The parsed record, when it is valid JSON. */
  value?: unknown;
  /** Why the record is not valid JSON. */
  error?: string;
}

export class DumpSyntaxError extends Error {
  override name = 'DumpSyntaxError';
  readonly line: number;
  constructor(message: string, line: number) {
    super(message);
    this.line = line;
  }
}

/** A record is a few kilobytes; a huge one means the file is not what dumpdata writes. */
const MAX_RECORD_CHARS = 16 * 1024 * 1024;

/**
 * A dumpdata record is 3 levels deep (the record, its fields, a list such as `groups`). A record
 * nested a million levels deep overflowed the stack once parsed (in JSON.stringify, say), so a
 * deeper one is reported and never parsed: the scanner only counts its brackets to find its end.
 */
const MAX_RECORD_DEPTH = 32;

const C = {
  LF: 0x0a,
  CR: 0x0d,
  TAB: 0x09,
  SPACE: 0x20,
  QUOTE: 0x22,
  BACKSLASH: 0x5c,
  COMMA: 0x2c,
  OPEN_BRACE: 0x7b,
  CLOSE_BRACE: 0x7d,
  OPEN_BRACKET: 0x5b,
  CLOSE_BRACKET: 0x5d,
} as const;

const isSpace = (c: number) => c === C.SPACE || c === C.LF || c === C.CR || c === C.TAB;

type State =
  /** Before the opening `[`. */
  | 'start'
  /** After `[`: a record or `]`. */
  | 'first'
  /** After `,`: a record. */
  | 'next'
  /** Inside a record. */
  | 'record'
  /** After a record: `,` or `]`. */
  | 'after'
  /** After the closing `]`: only whitespace. */
  | 'end';

/** The push-style scanner; `readDumpRecords` drives it. */
class DumpScanner {
  private state: State = 'start';
  private line = 1;
  private count = 0;
  // The record being read: its text so far, where it started, and the scanner's place in it.
  private parts: string[] = [];
  private partsLength = 0;
  private recordLine = 0;
  private kind: 'container' | 'string' | 'scalar' = 'container';
  private depth = 0;
  /** Set once the record is nested deeper than MAX_RECORD_DEPTH: its text is not kept. */
  private tooDeep = false;
  private inString = false;
  private escaped = false;

  /** Scans the next piece of text and returns the records completed in it. */
  push(text: string): DumpEntry[] {
    const out: DumpEntry[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i += 1) {
      const c = text.charCodeAt(i);
      if (this.state === 'record') {
        if (c === C.LF) this.line += 1;
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (c === C.BACKSLASH) this.escaped = true;
          else if (c === C.QUOTE) {
            this.inString = false;
            if (this.kind === 'string') this.finish(text.slice(start, i + 1), out);
          }
        } else if (this.kind === 'scalar') {
          if (isSpace(c) || c === C.COMMA || c === C.CLOSE_BRACKET) {
            this.finish(text.slice(start, i), out);
            if (c === C.LF) this.line -= 1;
            i -= 1; // the terminator belongs to the array: read it again in state 'after'
          }
        } else if (c === C.QUOTE) this.inString = true;
        else if (c === C.OPEN_BRACE || c === C.OPEN_BRACKET) {
          this.depth += 1;
          if (this.depth > MAX_RECORD_DEPTH) this.tooDeep = true;
        } else if (c === C.CLOSE_BRACE || c === C.CLOSE_BRACKET) {
          this.depth -= 1;
          if (this.depth === 0) this.finish(text.slice(start, i + 1), out);
        }
        continue;
      }

      if (isSpace(c)) {
        if (c === C.LF) this.line += 1;
        continue;
      }
      switch (this.state) {
        case 'start':
          if (c !== C.OPEN_BRACKET) {
            throw this.error(
              'The file is not a dumpdata JSON file: it must be a list of records, "[ … ]".',
            );
          }
          this.state = 'first';
          break;
        case 'first':
        case 'next':
          if (c === C.CLOSE_BRACKET && this.state === 'first') {
            this.state = 'end';
          } else if (c === C.CLOSE_BRACKET || c === C.COMMA || c === C.CLOSE_BRACE) {
            throw this.error(`Expected a record after record ${this.count}, found "${text[i]}".`);
          } else {
            this.begin(c);
            start = i;
          }
          break;
        case 'after':
          if (c === C.COMMA) this.state = 'next';
          else if (c === C.CLOSE_BRACKET) this.state = 'end';
          else throw this.error(`Expected "," or "]" after record ${this.count}.`);
          break;
        case 'end':
          throw this.error('Unexpected text after the closing "]" of the list of records.');
      }
    }
    if (this.state === 'record') this.keep(text.slice(start));
    return out;
  }

  /** Call at the end of the input: throws unless the array was closed. */
  end(): void {
    if (this.state === 'end') return;
    if (this.state === 'start') throw this.error('The file is empty: there is no list of records.');
    throw this.error(
      this.state === 'record'
        ? `The file ends inside record ${this.count + 1}, which starts on line ${this.recordLine}: is it cut short?`
        : 'The file ends before the closing "]" of the list of records: is it cut short?',
    );
  }

  private begin(c: number): void {
    this.state = 'record';
    this.count += 1;
    this.recordLine = this.line;
    this.parts = [];
    this.partsLength = 0;
    this.depth = 0;
    this.tooDeep = false;
    this.escaped = false;
    this.inString = false;
    // The opening character is part of the record's text; the scan goes on after it.
    if (c === C.OPEN_BRACE || c === C.OPEN_BRACKET) {
      this.kind = 'container';
      this.depth = 1;
    } else if (c === C.QUOTE) {
      this.kind = 'string';
      this.inString = true;
    } else {
      this.kind = 'scalar';
    }
  }

  private keep(piece: string): void {
    if (!this.tooDeep) this.parts.push(piece);
    this.partsLength += piece.length;
    if (this.partsLength > MAX_RECORD_CHARS) {
      throw new DumpSyntaxError(
        `Record ${this.count}, which starts on line ${this.recordLine}, is larger than ` +
          `${MAX_RECORD_CHARS / 1024 / 1024} MiB: this is not a dumpdata record.`,
        this.recordLine,
      );
    }
  }

  private finish(lastPiece: string, out: DumpEntry[]): void {
    this.keep(lastPiece);
    const entry: DumpEntry = { index: this.count, line: this.recordLine };
    if (this.tooDeep) {
      entry.error = `nested more than ${MAX_RECORD_DEPTH} levels deep (a dumpdata record has 3)`;
    } else {
      try {
        entry.value = JSON.parse(this.parts.length === 1 ? this.parts[0]! : this.parts.join(''));
      } catch (error) {
        entry.error = `not valid JSON: ${(error as Error).message}`;
      }
    }
    this.parts = [];
    this.partsLength = 0;
    this.state = 'after';
    out.push(entry);
  }

  private error(message: string): DumpSyntaxError {
    return new DumpSyntaxError(message, this.line);
  }
}

/**
 * The records of a dumpdata file, in order, as its bytes arrive. Throws `DumpSyntaxError` when
 * the bytes are not UTF-8 or the list itself is broken; invalid records come back with `error`.
 */
export async function* readDumpRecords(
  source: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<DumpEntry> {
  // `fatal`: bytes that are not UTF-8 stop the import instead of becoming U+FFFD silently.
  // A byte-order mark at the start is skipped.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const scanner = new DumpScanner();
  const decode = (chunk?: Uint8Array) => {
    try {
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch {
      throw new DumpSyntaxError('The file is not UTF-8 text, as dumpdata writes it.', 0);
    }
  };
  for await (const chunk of source) {
    yield* scanner.push(typeof chunk === 'string' ? chunk : decode(chunk));
  }
  yield* scanner.push(decode());
  scanner.end();
}
