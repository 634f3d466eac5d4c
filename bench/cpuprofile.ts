/**
 * `node bench/cpuprofile.ts <file.cpuprofile | dir> [--top N]`: where a V8 CPU profile
 * (node --cpu-prof) spent its time. Prints self time by function, self time by area (which
 * package or part of the site the code belongs to) and inclusive time of a few functions
 * that answer "how much goes to X" (session validation, queries, rendering, logging, …).
 * Time is the sum of the sample intervals (timeDeltas), not hit counts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * The built server is one bundle of many modules; the bundler marks where each starts
 * (`// node_modules/astro/dist/…`, `// src/lib/…`), so a line maps back to its module.
 */
const bundleMarks = new Map<string, Array<{ line: number; module: string }>>();
function bundledModule(url: string, line: number): string | undefined {
  let marks = bundleMarks.get(url);
  if (!marks) {
    marks = [];
    try {
      const lines = readFileSync(fileURLToPath(url), 'utf8').split('\n');
      lines.forEach((text, index) => {
        const mark = /^\/\/ ((?:node_modules|src)\/\S+)$/.exec(text);
        if (mark) marks!.push({ line: index, module: mark[1]! });
      });
    } catch {
      // Not readable (any more): attribute to the bundle file.
    }
    bundleMarks.set(url, marks);
  }
  let found: string | undefined;
  for (const mark of marks) {
    if (mark.line > line) break;
    found = mark.module;
  }
  return found;
}

function packageOf(modulePath: string): string {
  const rest = modulePath.slice(modulePath.lastIndexOf('node_modules/') + 13).split('/');
  return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
}

/** Which part of the stack a script belongs to. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return '(garbage collector)';
    if (functionName === '(program)') return '(program: native, not JS)';
    return `native: ${functionName}`;
  }
  if (url.startsWith('node:internal/deps/')) return `node:internal/deps/${url.split('/')[2]}`;
  if (url.startsWith('node:internal/')) return `node:internal/${url.slice(14).split('/')[0]}`;
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/server/');
  if (dist >= 0) {
    const module = bundledModule(url, frame.lineNumber);
    if (module?.startsWith('src/')) return module;
    if (module) return `${packageOf(module)} (bundled)`;
    return `dist/server/${url.slice(dist + 13)}`;
  }
  if (url.includes('/node_modules/')) return packageOf(url);
  const src = url.indexOf('/src/');
  if (src >= 0) return `src/${url.slice(src + 5)}`;
  const scripts = url.indexOf('/scripts/');
  if (scripts >= 0) return `scripts/${url.slice(scripts + 9)}`;
  return url;
}

const shortUrl = (url: string) =>
  url.replace(/^file:\/\/.*?\/node_modules\//, '').replace(/^file:\/\/.*?\/(dist|src)\//, '$1/');

/** Functions whose inclusive time is worth reporting (distinctive names only). */
const WATCHED = new Set([
  'validateSessionToken',
  'getSessionAndUser',
  'listItemsForUser',
  'itemBatchesForUser',
  'exportResponse',
  'exportStream',
  'objectsText',
  'renderPage',
  'renderToString',
  'renderComponent',
  'executeQuery',
  'handleDataRow',
  'parseRow',
  'createRequestFromNodeRequest',
  'writeResponse',
  'resolveStaticPath',
  'SendStream',
  'asJson',
]);

const SPECIAL = new Set(['(idle)', '(garbage collector)', '(program)', '(root)']);

export interface Summary {
  totalMs: number;
  wallMs: number;
  /** Self time by function. */
  byFunction: Map<string, number>;
  /** Self time by area; native code is counted to the area of the JS that called it. */
  byArea: Map<string, number>;
  /** Time with the area anywhere on the stack. */
  areaInclusive: Map<string, number>;
  /** Time with the function anywhere on the stack. */
  inclusive: Map<string, number>;
  /** For --callers: the stacks (innermost first) leading to the matching functions. */
  callers: Map<string, number>;
}

const frameLabel = (frame: CallFrame) =>
  frame.url
    ? `${frame.functionName || '(anonymous)'}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    : frame.functionName || '(native, unnamed)';

export function summarize(profiles: CpuProfile[], callersOf?: RegExp, depth = 6): Summary {
  const summary: Summary = {
    totalMs: 0,
    wallMs: 0,
    byFunction: new Map(),
    byArea: new Map(),
    areaInclusive: new Map(),
    inclusive: new Map(),
    callers: new Map(),
  };
  const add = (map: Map<string, number>, key: string, ms: number) =>
    map.set(key, (map.get(key) ?? 0) + ms);

  for (const profile of profiles) {
    summary.wallMs += (profile.endTime - profile.startTime) / 1000;
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) {
      for (const child of node.children ?? []) parent.set(child, node.id);
    }
    const areas = new Map<number, string>();
    const areaOfNode = (id: number): string => {
      let area = areas.get(id);
      if (area === undefined) {
        const frame = nodes.get(id)!.callFrame;
        const up = parent.get(id);
        area =
          frame.url === '' && !SPECIAL.has(frame.functionName) && up !== undefined
            ? areaOfNode(up).replace(/ → native$/, '') + ' → native'
            : areaOf(frame);
        areas.set(id, area);
      }
      return area;
    };

    for (let i = 0; i < profile.samples.length; i += 1) {
      // The delta before sample i+1 is the time spent in sample i.
      const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
      const node = nodes.get(profile.samples[i]!)!;
      summary.totalMs += ms;
      add(summary.byFunction, frameLabel(node.callFrame), ms);
      add(summary.byArea, areaOfNode(node.id), ms);
      const seenAreas = new Set<string>();
      const seenFunctions = new Set<string>();
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const frame = nodes.get(id)!.callFrame;
        const area = areaOfNode(id).replace(/ → native$/, '');
        if (frame.functionName !== '(root)' && !seenAreas.has(area)) {
          seenAreas.add(area);
          add(summary.areaInclusive, area, ms);
        }
        if (WATCHED.has(frame.functionName) && !seenFunctions.has(frame.functionName)) {
          seenFunctions.add(frame.functionName);
          add(summary.inclusive, frame.functionName, ms);
        }
      }
      if (callersOf?.test(node.callFrame.functionName)) {
        const stack: string[] = [];
        for (
          let id: number | undefined = node.id;
          id !== undefined && stack.length < depth;
          id = parent.get(id)
        ) {
          stack.push(frameLabel(nodes.get(id)!.callFrame));
        }
        add(summary.callers, stack.join('\n      ← '), ms);
      }
    }
  }
  return summary;
}

export function profilesIn(target: string): CpuProfile[] {
  const files = statSync(target).isDirectory()
    ? readdirSync(target)
        .filter((name) => name.endsWith('.cpuprofile'))
        .map((name) => path.join(target, name))
    : [target];
  return files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
}

export function report(summary: Summary, top: number): string {
  const idleMs = summary.byFunction.get('(idle)') ?? 0;
  const busyMs = summary.totalMs - idleMs;
  const row = ([name, ms]: [string, number]) =>
    `  ${`${((100 * ms) / busyMs).toFixed(1)}%`.padStart(6)} ${ms.toFixed(0).padStart(7)} ms  ${name}`;
  const ranked = (map: Map<string, number>) =>
    [...map].filter(([name]) => name !== '(idle)').sort((a, b) => b[1] - a[1]);
  const lines = [
    `profiled ${(summary.wallMs / 1000).toFixed(1)} s; busy (not idle) ` +
      `${(busyMs / 1000).toFixed(1)} s; percentages are of busy time`,
    '',
    'self time by area (native code counted to the area that called it):',
    ...ranked(summary.byArea).slice(0, top).map(row),
    '',
    'inclusive time by area (the area anywhere on the stack):',
    ...ranked(summary.areaInclusive).slice(0, top).map(row),
    '',
    `self time by function (top ${top}):`,
    ...ranked(summary.byFunction).slice(0, top).map(row),
    '',
    'inclusive time of selected functions:',
    ...ranked(summary.inclusive).map(row),
  ];
  if (summary.callers.size > 0) {
    lines.push('', 'callers (innermost first):', ...ranked(summary.callers).slice(0, 12).map(row));
  }
  return lines.join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '30' },
      callers: { type: 'string' },
      depth: { type: 'string', default: '6' },
    },
  });
  if (positionals.length !== 1) {
    console.error(
      'usage: node bench/cpuprofile.ts <file.cpuprofile | directory> [--top N] ' +
        '[--callers REGEX [--depth N]]',
    );
    process.exit(2);
  }
  const callers = values.callers === undefined ? undefined : new RegExp(values.callers);
  const summary = summarize(profilesIn(positionals[0]!), callers, Number(values.depth));
  console.log(report(summary, Number(values.top)));
}
