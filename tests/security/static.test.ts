import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/build-if-stale.ts';
import { expectEscapedInHtml } from './kit.ts';

/**
 * Checks of the source itself. Astro and Svelte escape whatever they render, except where a
 * template asks for raw HTML: ESLint refuses that (`astro/no-set-html-directive`,
 * `svelte/no-at-html-tags`, see eslint.config.js). Scripts that write HTML are checked here.
 */

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : [full];
  });
}

const SOURCES = sourceFiles(path.join(ROOT, 'src')).map((file) => ({
  file: path.relative(ROOT, file),
  text: readFileSync(file, 'utf8'),
}));

describe('raw HTML in the source', () => {
  it('finds the source files', () => {
    expect(SOURCES.filter(({ file }) => file.endsWith('.astro')).length).toBeGreaterThan(10);
    expect(SOURCES.filter(({ file }) => file.endsWith('.svelte')).length).toBeGreaterThan(0);
  });

  it('writes no HTML from scripts: no innerHTML, outerHTML, insertAdjacentHTML or document.write', () => {
    const found = SOURCES.filter(({ text }) =>
      /\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML|document\.write/.test(text),
    ).map(({ file }) => file);
    expect(found).toEqual([]);
  });
});

describe('the escaping check the attack suite uses', () => {
  const payload = '"><img src=x onerror=alert(1)>';

  it('passes a page that shows the payload as text', () => {
    const escaped = '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;';
    expectEscapedInHtml(`<p>${escaped}</p><input value="${escaped}">`, payload, 'escaped');
    // `<` inside a quoted attribute value is text to HTML.
    expectEscapedInHtml(
      '<input value="<script>alert(1)</script>"><p>&lt;script&gt;alert(1)&lt;/script&gt;</p>',
      '<script>alert(1)</script>',
      'attribute',
    );
  });

  it('catches a page that renders it as markup', () => {
    for (const page of [
      `<p>${payload}</p>`,
      `<input value="${payload}">`,
      '<p><script>alert(1)</script></p>',
      '<script>var name = "</script><script>alert(1)</script>";</script>',
      '<a href="javascript:alert(1)">x</a>',
    ]) {
      const injected = /<script>alert/.test(page)
        ? '<script>alert(1)</script>'
        : page.includes('javascript:')
          ? 'javascript:alert(1)'
          : payload;
      expect(() => expectEscapedInHtml(page, injected, page), page).toThrow();
    }
  });
});
