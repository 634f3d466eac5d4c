/**
 * The site's one icon set: 24×24 outline paths drawn in the text colour, inline so they need
 * no request and no CSP exception. Decorative: the control around an icon carries its name.
 * How they are stroked is said once, in site.css's `.icon`, not in every icon's attributes
 * (a hundred and more of them on a page of items).
 * Icon.astro places one in a component; markup written as a string calls `iconSvg` itself,
 * or, for the item rows, `iconUseSvg`.
 */
const PATHS = {
  mark: [
    'M5 7h14a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2z',
    'M3 11h18M9 15h6M7 7l2-4h6l2 4',
  ],
  plus: ['M12 5v14M5 12h14'],
  minus: ['M5 12h14'],
  edit: ['M4 20h4L19 9l-4-4L4 16v4zM13.5 6.5l4 4'],
  trash: ['M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3'],
  search: ['M4.5 11a6.5 6.5 0 1 0 13 0a6.5 6.5 0 1 0-13 0', 'M16 16l4.5 4.5'],
  close: ['M6 6l12 12M18 6L6 18'],
  user: ['M8 8a4 4 0 1 0 8 0a4 4 0 1 0-8 0', 'M4 21c1-4.5 4-6.5 8-6.5s7 2 8 6.5'],
  settings: [
    'M9 12a3 3 0 1 0 6 0a3 3 0 1 0-6 0',
    'M12 2.5v3M12 18.5v3M2.5 12h3M18.5 12h3M5.3 5.3l2.1 2.1M16.6 16.6l2.1 2.1M5.3 18.7l2.1-2.1M16.6 7.4l2.1-2.1',
  ],
  'sign-out': ['M10 4H5v16h5M15 8l4 4-4 4M19 12H9'],
  'chevron-left': ['M15 5l-7 7 7 7'],
  'chevron-right': ['M9 5l7 7-7 7'],
  'chevron-down': ['M6 9l6 6 6-6'],
  warning: ['M12 3L2 20h20L12 3z', 'M12 10v4M12 17v.5'],
  box: ['M3 7l9-4 9 4v10l-9 4-9-4V7z', 'M3 7l9 4 9-4M12 11v10'],
  users: [
    'M6 8a3 3 0 1 0 6 0a3 3 0 1 0-6 0',
    'M2 20c.8-3.6 3.3-5.5 7-5.5s6.2 1.9 7 5.5M16 5.5a3 3 0 0 1 0 5M18.5 14.8c1.8.8 3 2.5 3.5 5.2',
  ],
  pin: [
    'M12 21s-7-6.2-7-11.5a7 7 0 0 1 14 0C19 14.8 12 21 12 21z',
    'M9.5 9.5a2.5 2.5 0 1 0 5 0a2.5 2.5 0 1 0-5 0',
  ],
  download: ['M12 4v11M7 10l5 5 5-5M5 20h14'],
  upload: ['M12 15V4M7 9l5-5 5 5M5 20h14'],
  history: ['M3 12a9 9 0 1 0 3-6.7L3 8', 'M3 3v5h5M12 7v5l3 3'],
  tag: ['M3 12V4h8l10 10-8 8L3 12z', 'M7.5 8a.5.5 0 1 0 1 0a.5.5 0 1 0-1 0'],
  link: [
    'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1',
    'M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
  ],
} as const;

export type IconName = keyof typeof PATHS;

const pathsOf = (name: IconName) => PATHS[name].map((d) => `<path d="${d}"></path>`).join('');

/** An icon's markup, `size` CSS pixels square (the default suits a line of body text). */
export function iconSvg(name: IconName, size = 18): string {
  return `<svg class="icon" viewBox="0 0 24 24" width="${size}" height="${size}" aria-hidden="true" focusable="false">${pathsOf(name)}</svg>`;
}

/**
 * Icons drawn many times on one page (the item rows', a hundred and more a page) are defined
 * once, by `iconSymbolsHtml` ahead of them, and drawn by `iconUseSvg`, which only points at
 * the definition: a page of 25 rows is some 7 KB lighter to write and encode.
 */
export function iconSymbolsHtml(names: readonly IconName[]): string {
  const symbols = names.map(
    (name) => `<symbol id="icon-${name}" viewBox="0 0 24 24">${pathsOf(name)}</symbol>`,
  );
  return `<svg class="icon-symbols" aria-hidden="true">${symbols.join('')}</svg>`;
}

/** An icon of `iconSymbolsHtml`'s, drawn as `iconSvg` draws it. */
export const iconUseSvg = (name: IconName, size = 18): string =>
  `<svg class="icon" width="${size}" height="${size}" aria-hidden="true"><use href="#icon-${name}"></use></svg>`;
