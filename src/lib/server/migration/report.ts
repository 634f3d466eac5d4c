/**
 * What an import found, and the report `npm run import:django` prints of it. `ImportTally`
 * gathers the counts and problems while the file is read and checked; its `result` is what
 * `importDjangoDump` resolves with.
 */
import { formatNumber, plural } from '../../plural.ts';
import type { PasswordHashFormat, PasswordHashKind } from '../auth/django-hashers.ts';
import { ITEM_MODEL, USER_MODEL } from './records.ts';

export type ProblemKind =
  /** The file itself: not JSON, cut short, nothing to import. */
  | 'file'
  /** A record the forms (or Django's rules) would refuse. */
  | 'invalid'
  /** A pk or username that appears twice in the file. */
  | 'duplicate'
  /** An id or username that already exists in this database. */
  | 'exists'
  /** An item whose owner is not in the file. */
  | 'owner';

export interface ImportProblem {
  kind: ProblemKind;
  /** 1-based position of the record in the file's list. */
  record?: number;
  line?: number;
  model?: string;
  pk?: number | null;
  message: string;
}

export interface PreviousImport {
  fileName: string;
  importedAt: Date;
  users: number;
  items: number;
}

export interface ImportResult {
  /** `checked`: a dry run that found no problem. */
  status: 'imported' | 'checked' | 'refused';
  dryRun: boolean;
  sha256: string;
  records: number;
  bytes: number;
  users: number;
  inactiveUsers: number;
  items: number;
  /**
   * Records of other models, by model label; they are not imported. At most 100 labels, and
   * "(other names)" for the records of any others: see `NameCounts`.
   */
  skipped: Readonly<Record<string, number>>;
  /** Users' password hashes by format. */
  passwordHashes: Partial<Record<PasswordHashKind, number>>;
  /**
   * Hashes that cannot be checked here, by format name: those users cannot sign in. See
   * `NameCounts`.
   */
  unsupportedHashes: Readonly<Record<string, number>>;
  /** The ids new rows get after the import (only when imported or checked). */
  nextUserId?: number;
  nextItemId?: number;
  /** The first `MAX_LISTED_PROBLEMS` problems, in file order; empty unless refused. */
  problems: ImportProblem[];
  /** How many problems there are beyond those listed. */
  moreProblems: number;
  /** Set when this very file was imported before. */
  alreadyImported?: PreviousImport;
}

/** What the result adds to the tally: how the import ended. */
type ImportOutcome = Pick<
  ImportResult,
  'status' | 'dryRun' | 'sha256' | 'nextUserId' | 'nextItemId' | 'alreadyImported'
>;

/** The report lists this many problems, the first in file order, and counts the others. */
export const MAX_LISTED_PROBLEMS = 1_000;

const fileOrder = (problem: ImportProblem) => problem.record ?? Number.MAX_SAFE_INTEGER;

/**
 * The first `MAX_LISTED_PROBLEMS` problems in file order and a count of the others, holding
 * twice that many at most: a file of millions of bad records once took gigabytes here. Problems
 * arrive in record order while the file is read, then from each cross-record check in record
 * order; problems of one record stay in the order they came (the sort is stable).
 */
export class ProblemList {
  private kept: ImportProblem[] = [];
  private unlisted = 0;

  get total(): number {
    return this.kept.length + this.unlisted;
  }

  add(problem: ImportProblem): void {
    this.kept.push(problem);
    if (this.kept.length >= 2 * MAX_LISTED_PROBLEMS) this.trim();
  }

  /** Counts problems that are known to come after the first `MAX_LISTED_PROBLEMS`. */
  countUnlisted(count: number): void {
    this.unlisted += count;
  }

  listed(): Pick<ImportResult, 'problems' | 'moreProblems'> {
    this.trim();
    return { problems: this.kept, moreProblems: this.unlisted };
  }

  private trim(): void {
    this.kept.sort((a, b) => fileOrder(a) - fileOrder(b));
    if (this.kept.length > MAX_LISTED_PROBLEMS) {
      this.unlisted += this.kept.length - MAX_LISTED_PROBLEMS;
      this.kept.length = MAX_LISTED_PROBLEMS;
    }
  }
}

/** A count by name keeps this many names; the records of any further name count together. */
const MAX_COUNTED_NAMES = 100;
/** A longer name is counted by its first this many characters, and `…`. */
const MAX_NAME_LENGTH = 100;
/** The name the records of names past the first `MAX_COUNTED_NAMES` are counted under. */
const OTHER_NAMES = '(other names)';

/**
 * Counts records by a name the file chose (a model label, a hash format). In a plain object,
 * `constructor` counted as "function Object() { [native code] }1" and `__proto__` not at all;
 * in a Map every name is just a name. A file of a million names holds a hundred here.
 */
class NameCounts {
  private readonly counts = new Map<string, number>();

  add(name: string): void {
    let key =
      name.length > MAX_NAME_LENGTH
        ? `${name.slice(0, MAX_NAME_LENGTH).replace(/[\uD800-\uDBFF]$/, '')}…`
        : name;
    if (this.counts.size >= MAX_COUNTED_NAMES && !this.counts.has(key)) key = OTHER_NAMES;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /**
   * The counts as an object without a prototype, for the result: each name from the file is an
   * own property, and a name it does not have reads as undefined, never as Object's method.
   */
  toRecord(): Record<string, number> {
    const record = Object.create(null) as Record<string, number>;
    for (const [name, count] of this.counts) record[name] = count;
    return record;
  }
}

/** The counts and problems of one import, gathered while it reads and checks the file. */
export class ImportTally {
  records = 0;
  bytes = 0;
  users = 0;
  inactiveUsers = 0;
  items = 0;
  private readonly skipped = new NameCounts();
  private readonly passwordHashes: Partial<Record<PasswordHashKind, number>> = {};
  private readonly unsupportedHashes = new NameCounts();
  readonly problems = new ProblemList();

  countSkipped(model: string): void {
    this.skipped.add(model);
  }

  countUser(isActive: boolean, hash: PasswordHashFormat): void {
    this.users += 1;
    if (!isActive) this.inactiveUsers += 1;
    this.passwordHashes[hash.kind] = (this.passwordHashes[hash.kind] ?? 0) + 1;
    if (hash.kind === 'unsupported') this.unsupportedHashes.add(hash.label);
  }

  result(outcome: ImportOutcome): ImportResult {
    return {
      ...outcome,
      records: this.records,
      bytes: this.bytes,
      users: this.users,
      inactiveUsers: this.inactiveUsers,
      items: this.items,
      skipped: this.skipped.toRecord(),
      passwordHashes: this.passwordHashes,
      unsupportedHashes: this.unsupportedHashes.toRecord(),
      // A file imported before is refused for that alone.
      ...(outcome.alreadyImported ? { problems: [], moreProblems: 0 } : this.problems.listed()),
    };
  }
}

// --- Report -------------------------------------------------------------------------------

function formatBytes(bytes: number): string {
  if (bytes < 1024) return plural(bytes, 'byte');
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function formatProblem(problem: ImportProblem): string {
  const where: string[] = [];
  if (problem.model) where.push(`${problem.model} pk ${problem.pk ?? '?'}`);
  if (problem.record !== undefined) {
    where.push(
      problem.model
        ? `(record ${problem.record})`
        : `record ${problem.record}${problem.line ? ` (line ${problem.line})` : ''}`,
    );
  } else if (problem.line) {
    where.push(`line ${problem.line}`);
  }
  return where.length > 0 ? `${where.join(' ')}: ${problem.message}` : problem.message;
}

/**
 * A name from the file as the report shows it: as it is when it is plain, else quoted with
 * everything but printable ASCII escaped, so that no name can move the cursor, clear a line,
 * turn the text around or pass for a line of the report.
 */
function printable(name: string): string {
  if (/^[\p{L}\p{M}\p{N}_.$@+\-…]+$/u.test(name)) return name;
  return JSON.stringify(name).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const HASH_NOTES: Record<PasswordHashKind, string> = {
  argon2id: 'Argon2id',
  pbkdf2_sha256: 'Django PBKDF2-SHA256',
  pbkdf2_sha1: 'Django PBKDF2-SHA1',
  'django-argon2': "Django's Argon2",
  unusable: "Django's unusable-password marker (these users cannot sign in)",
  unsupported: 'a format this site cannot check (these users cannot sign in)',
};

/** The report printed by `npm run import:django`, one line per fact or problem. */
export function formatImportResult(result: ImportResult): string {
  const lines: string[] = [];
  const source = `${plural(result.records, 'record')}, ${formatBytes(result.bytes)}`;
  if (result.alreadyImported) {
    const previous = result.alreadyImported;
    lines.push(
      `Refused: this file was already imported on ${previous.importedAt.toISOString()} ` +
        `(as ${previous.fileName}: ${plural(previous.users, 'user')}, ` +
        `${plural(previous.items, 'item')}). Nothing was imported again.`,
      `(SHA-256 ${result.sha256})`,
    );
    return lines.join('\n');
  }
  if (result.status === 'refused') {
    const total = result.problems.length + result.moreProblems;
    lines.push(
      `Refused: ${plural(total, 'problem')} found in the file (${source}). ` +
        `Nothing was ${result.dryRun ? 'written (dry run)' : 'imported'}.`,
    );
    if (result.problems.some((problem) => problem.kind === 'exists')) {
      lines.push(
        'Some users or items are already in this database: was this data imported before? ' +
          'Import into a new, empty site.',
      );
    }
    for (const problem of result.problems) lines.push(`  - ${formatProblem(problem)}`);
    if (result.moreProblems > 0) {
      lines.push(`  …and ${plural(result.moreProblems, 'more problem')}`);
    }
    return lines.join('\n');
  }

  const verb = result.status === 'imported' ? 'Imported' : 'Dry run, nothing written. Would import';
  const inactive =
    result.inactiveUsers > 0 ? ` (${formatNumber(result.inactiveUsers)} inactive)` : '';
  lines.push(
    `${verb} ${plural(result.users, 'user')}${inactive} and ${plural(result.items, 'item')} ` +
      `from ${source}.`,
  );
  for (const [kind, count] of Object.entries(result.passwordHashes)) {
    lines.push(`  passwords: ${formatNumber(count)} × ${HASH_NOTES[kind as PasswordHashKind]}`);
  }
  for (const [label, count] of Object.entries(result.unsupportedHashes)) {
    lines.push(
      // Format labels print as they are: django-hashers.ts makes them safe to log.
      `    ${label === OTHER_NAMES ? 'other formats' : label}: ${formatNumber(count)}`,
    );
  }
  if (result.inactiveUsers > 0) {
    lines.push(`  ${plural(result.inactiveUsers, 'inactive user')} cannot sign in, as in Django.`);
  }
  for (const [model, count] of Object.entries(result.skipped)) {
    const records =
      model === OTHER_NAMES
        ? `${plural(count, 'record')} of other models`
        : plural(count, `${printable(model)} record`);
    lines.push(`  skipped ${records} (only ${USER_MODEL} and ${ITEM_MODEL} are imported)`);
  }
  lines.push(
    `  new users will get ids from ${result.nextUserId}, new items from ${result.nextItemId}`,
  );
  if (result.status === 'imported') {
    lines.push('Django passwords work as they are, and become Argon2id at each first sign-in.');
  }
  return lines.join('\n');
}
