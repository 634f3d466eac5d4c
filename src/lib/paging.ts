/**
 * The main page's pages: how many there are, the address of one (keeping search, sort and
 * size), and which numbers the pager shows — the first, the last and the current one's
 * neighbours, with a gap (`'…'`) where numbers are left out.
 */
export function pageCount(total: number, limit: number): number {
  return Math.max(1, Math.ceil(total / limit));
}

/** The address of this list with its query changed by `change` (a copy: `url` stays). */
function listHref(url: URL, change: (params: URLSearchParams) => void): string {
  const params = new URLSearchParams(url.searchParams);
  change(params);
  const query = params.toString();
  return query ? `${url.pathname}?${query}` : url.pathname;
}

export function pageHref(url: URL, page: number): string {
  return listHref(url, (params) => {
    if (page === 1) params.delete('page');
    else params.set('page', String(page));
  });
}

export function pageNumbers(page: number, pages: number): (number | '…')[] {
  const shown = new Set([1, pages, page - 1, page, page + 1].filter((n) => n >= 1 && n <= pages));
  const sorted = [...shown].sort((a, b) => a - b);
  const numbers: (number | '…')[] = [];
  for (const [index, n] of sorted.entries()) {
    const previous = sorted[index - 1];
    // One missing number is shown rather than an ellipsis standing for it.
    if (previous !== undefined && n - previous === 2) numbers.push(previous + 1);
    else if (previous !== undefined && n - previous > 2) numbers.push('…');
    numbers.push(n);
  }
  return numbers;
}

/** The same list without its search (and so from its first page). */
export function withoutSearch(url: URL): string {
  return withoutFilter(url, 'q');
}

/** The list's filters: what the chips show and "Clear all" takes away. */
const FILTER_PARAMS = ['q', 'location', 'tag', 'low'] as const;
export type FilterParam = (typeof FILTER_PARAMS)[number];

/**
 * The same list without one filter, from its first page: one tag of several when `value`
 * names it, else the whole parameter.
 */
export function withoutFilter(url: URL, name: FilterParam, value?: string): string {
  return listHref(url, (params) => {
    if (value === undefined) params.delete(name);
    else params.delete(name, value);
    params.delete('page');
  });
}

/**
 * The same list with one more filter, from its first page: a tag joins those chosen, any
 * other parameter takes the new value.
 */
export function withFilter(url: URL, name: FilterParam, value: string): string {
  return listHref(url, (params) => {
    if (name !== 'tag') params.delete(name);
    if (!params.getAll(name).includes(value)) params.append(name, value);
    params.delete('page');
  });
}

/** The same list without any filter (sort and page size kept). */
export function withoutFilters(url: URL): string {
  return listHref(url, (params) => {
    for (const name of FILTER_PARAMS) params.delete(name);
    params.delete('page');
  });
}
