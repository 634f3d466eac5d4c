import fc from 'fast-check';
import { describe, it, expect } from 'vitest';
import { isSafeNextPath, safeNextPath } from '../../src/lib/server/auth/safe-next.ts';

/** Every accepted value must be path-absolute: one '/', then neither '/' nor '\'. */
function expectLocal(result: string): void {
  expect(result.startsWith('/')).toBe(true);
  expect(['/', '\\']).not.toContain(result.charAt(1));
}

describe('safeNextPath', () => {
  it('falls back to / for missing values', () => {
    expect(safeNextPath(null)).toBe('/');
    expect(safeNextPath(undefined)).toBe('/');
    expect(safeNextPath('')).toBe('/');
  });

  it('keeps local paths', () => {
    for (const path of [
      '/',
      '/items/3/edit',
      '/?page=2&sort=name',
      '/json/',
      '/create-item',
      // Django's test_good_urls that are local paths.
      '/view/?param=http://example.com',
      '/view/?param=https://example.com',
      '/view?param=ftp://example.com',
      '/url%20with%20spaces/',
      '/%E2%82%AC/',
      '/100%',
      '/%E0%2F/still-local',
    ]) {
      expect(safeNextPath(path), path).toBe(path);
    }
  });

  it('refuses what the brief lists', () => {
    for (const url of [
      'http://example.com',
      'https://example.com',
      '//example.com',
      '///example.com',
      'http:///example.com',
      'ftp://example.com',
      'javascript:alert("XSS")',
      '/\\example.com',
      '\\\\example.com',
      ' /example',
      '/example ',
      '\t//example.com',
      '/\t/example.com',
      '/\n/example.com',
      '\u0000/x',
      '/%2F%2Fexample.com',
      '/%2f%2fexample.com',
      '%2F%2Fexample.com',
      '/%5Cexample.com',
      '/%5cexample.com',
      '/%252F%252Fexample.com',
      '/%25252F%25252Fexample.com',
      '/%255Cexample.com',
      '/%09/example.com',
      '/%0A',
      '/%2F%E0/example.com',
      '/\u200b/example.com',
    ]) {
      expect(safeNextPath(url), JSON.stringify(url)).toBe('/');
    }
  });

  it("refuses every bad URL of Django's url_has_allowed_host_and_scheme tests", () => {
    const badUrls = [
      'http://example.com',
      'http:///example.com',
      'https://example.com',
      'ftp://example.com',
      String.raw`\\example.com`,
      String.raw`\\\example.com`,
      String.raw`/\\/example.com`,
      String.raw`\\//example.com`,
      String.raw`/\/example.com`,
      String.raw`\/example.com`,
      String.raw`/\example.com`,
      String.raw`http:/\//example.com`,
      String.raw`http:\/example.com`,
      String.raw`http:/\example.com`,
      'javascript:alert("XSS")',
      '\njavascript:alert(x)',
      'java\nscript:alert(x)',
      '\x08//example.com',
      String.raw`http://otherserver\@example.com`,
      String.raw`http:\\testserver\@example.com`,
      String.raw`http://testserver\me:pass@example.com`,
      String.raw`http://testserver\@example.com`,
      String.raw`http:\\testserver\confirm\me@example.com`,
      'http:999999999',
      'ftp:9999999999',
      '\n',
      'http://[2001:cdba:0000:0000:0000:0000:3257:9652/',
      'http://2001:cdba:0000:0000:0000:0000:3257:9652]/',
    ];
    for (const url of badUrls) {
      expect(safeNextPath(url), JSON.stringify(url)).toBe('/');
    }
  });

  it("refuses Django's good URLs that are not path-absolute (no allowed hosts here)", () => {
    for (const url of [
      'view/?param=//example.com',
      'https://testserver/',
      'HTTPS://testserver/',
      '//testserver/',
      'http://testserver/confirm?email=me@example.com',
      'path/http:2222222222',
    ]) {
      expect(safeNextPath(url), url).toBe('/');
    }
  });

  it('refuses absurdly long values', () => {
    expect(isSafeNextPath('/' + 'a'.repeat(2047))).toBe(true);
    expect(isSafeNextPath('/' + 'a'.repeat(2048))).toBe(false);
  });

  it('always returns a path-absolute value', () => {
    const samples = [
      '/',
      '/a',
      '//b',
      '/\\c',
      'd',
      '/%2F/e',
      '/%5C%5Cf',
      '%2Fg',
      '/%%32%46/h',
      '/%u002F/i',
    ];
    for (const sample of samples) expectLocal(safeNextPath(sample));
  });

  it('percent-encodes what a Location header cannot carry, and keeps it local', () => {
    expect(safeNextPath('/⁄x')).toBe('/%E2%81%84x');
    expect(safeNextPath('/日本?q=é')).toBe('/%E6%97%A5%E6%9C%AC?q=%C3%A9');
    expect(safeNextPath('/😀')).toBe('/%F0%9F%98%80');
    // What was already encoded stays as it was.
    expect(safeNextPath('/%E6%97%A5')).toBe('/%E6%97%A5');
  });

  it('returns a valid header value for any input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.string({ unit: 'grapheme' }).map((text) => `/${text}`),
          fc.string({ unit: 'binary' }).map((text) => `/${text}`),
        ),
        (next) => {
          const result = safeNextPath(next);
          expect(() => new Headers({ Location: result })).not.toThrow();
          expect(result).toMatch(/^[\x21-\x7e]+$/);
          expectLocal(result);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
