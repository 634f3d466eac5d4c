import { describe, expect, it } from 'vitest';
import { pageCount, pageHref, pageNumbers, withoutSearch } from '../../src/lib/paging.ts';

describe('the main page’s pager', () => {
  it('counts at least one page', () => {
    expect(pageCount(0, 25)).toBe(1);
    expect(pageCount(25, 25)).toBe(1);
    expect(pageCount(26, 25)).toBe(2);
    expect(pageCount(1000, 25)).toBe(40);
  });

  it('shows the first, the last and the neighbours, with gaps for the rest', () => {
    expect(pageNumbers(1, 1)).toEqual([1]);
    expect(pageNumbers(1, 3)).toEqual([1, 2, 3]);
    expect(pageNumbers(1, 40)).toEqual([1, 2, '…', 40]);
    expect(pageNumbers(2, 40)).toEqual([1, 2, 3, '…', 40]);
    expect(pageNumbers(20, 40)).toEqual([1, '…', 19, 20, 21, '…', 40]);
    expect(pageNumbers(40, 40)).toEqual([1, '…', 39, 40]);
    // A gap of one page shows that page instead.
    expect(pageNumbers(4, 40)).toEqual([1, 2, 3, 4, 5, '…', 40]);
  });

  it('keeps the rest of the query in page links, and drops the search to clear it', () => {
    const url = new URL('http://localhost/?q=bolt&sort=-amount&limit=10&page=3');
    expect(pageHref(url, 2)).toBe('/?q=bolt&sort=-amount&limit=10&page=2');
    expect(pageHref(url, 1)).toBe('/?q=bolt&sort=-amount&limit=10');
    expect(withoutSearch(url)).toBe('/?sort=-amount&limit=10');
    expect(withoutSearch(new URL('http://localhost/?q=x'))).toBe('/');
  });
});
