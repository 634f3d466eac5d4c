// @ts-check
import { defineConfig } from 'astro/config';
import node from '@astrojs/node';
import svelte from '@astrojs/svelte';

/**
 * What the add-item island runs once it hydrates: Svelte's runtime, Astro's Svelte renderer
 * and the component. Each file is compressed on its own and split files import each other by
 * long lists of names, so in one file this is smaller gzipped than in the pieces the bundler
 * makes by itself. The items API client stays out (its own group below): the table's script
 * imports it at page load, and in here it would bring all of Svelte along. The item schema
 * (with zod) stays out too: the island imports it on first use.
 */
const ISLAND_MODULES = [
  /node_modules[\\/]svelte[\\/]/,
  /node_modules[\\/]@astrojs[\\/]svelte[\\/]/,
  /src[\\/]components[\\/]ItemForm\.svelte/,
];

export default defineConfig({
  output: 'server',
  adapter: node({
    // scripts/start.ts serves the built files and hands everything else to this handler.
    mode: 'middleware',
    // The adapter's default is 1 GB; forms and JSON bodies are capped at 64 KiB by the
    // middleware, and a CSV import at 10 MB (IMPORT_MAX_BYTES, with room for its form), so
    // anything larger than this is refused before it is buffered.
    bodySizeLimit: 11 * 1024 * 1024,
    // Every page loads its data before it renders, so streaming sends nothing sooner; it
    // cost a text encoding per chunk (hundreds a page), 12 % of the main page's CPU. A page
    // is now rendered to one string, encoded once, with a Content-Length. Endpoints (the
    // exports) stream their own bodies as before.
    experimentalDisableStreaming: true,
  }),
  integrations: [
    svelte(),
    {
      // `client:interact`: an island that hydrates on first use (src/lib/client-interact.ts).
      name: 'client-interact',
      hooks: {
        'astro:config:setup': ({ addClientDirective }) => {
          addClientDirective({ name: 'interact', entrypoint: './src/lib/client-interact.ts' });
        },
      },
    },
  ],
  // Sessions are Lucia's, kept in our own database; Astro's store would be a second,
  // unused copy on disk.
  session: false,
  security: {
    // The request pipeline (src/middleware.ts) checks the origin of every state change,
    // whatever its content type; Astro's check covers forms only and would be a second,
    // differing policy.
    checkOrigin: false,
    // Sent as a header on every page: what Astro inlines is allowed by its hash, nothing
    // else inline runs, and no other site may frame the pages or receive their forms.
    csp: {
      algorithm: 'SHA-256',
      directives: [
        "default-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
      ],
    },
  },
  server: { port: 4321 },
  // No Markdown pages; Shiki's inline styles would need a CSP exception.
  markdown: { syntaxHighlight: false },
  trailingSlash: 'ignore',
  build: {
    // Styles stay in files so the Content-Security-Policy never has to allow inline ones.
    inlineStylesheets: 'never',
  },
  vite: {
    plugins: [
      // Astro imports a page's module anew for every request it answers. The module cache
      // makes that cheap but not free: resolving and looking up the import was 3-5 % of the
      // CPU of /json/ and of the main page (bench/RESULTS.md, issue 20). Each page is
      // imported once here, and the same module answers from then on. (Built sites only:
      // the dev server must load a page again after an edit.)
      {
        name: 'pages-imported-once',
        apply: 'build',
        transform(code, id) {
          if (id !== '\0virtual:astro:pages') return undefined;
          const once = 'const once = (load) => { let loaded; return () => (loaded ??= load()); };';
          const imports = /= \(\) => (import\("[^"]+"\));/g;
          return `${once}\n${code.replace(imports, '= once(() => $1);')}`;
        },
      },
      // Vite wraps every dynamic import in the browser in a helper that first preloads the
      // imported chunk's own imports. The one dynamic import here (the island's schema) has
      // none, yet the helper cost the island 0.6 KB gzipped, more than hydrating on first use
      // costs in all; this one just imports. A lazy chunk with imports of its own would
      // fetch them one after another rather than at once: drop this plugin then.
      {
        name: 'plain-dynamic-import',
        enforce: 'pre',
        applyToEnvironment: (environment) => environment.name === 'client',
        resolveId: (id) => (id === '\0vite/preload-helper.js' ? id : undefined),
        load: (id) =>
          id === '\0vite/preload-helper.js'
            ? 'export const __vitePreload = (load) => load();'
            : undefined,
      },
    ],
    environments: {
      client: {
        build: {
          rolldownOptions: {
            output: {
              codeSplitting: {
                groups: [
                  // Its own small chunk, which the table's script and the island share.
                  // Higher in priority, or the island's group takes it in with ItemForm's
                  // dependencies.
                  {
                    name: 'item-client',
                    test: /src[\\/]lib[\\/]item-client\.ts/,
                    priority: 1,
                  },
                  {
                    name: 'island',
                    test: (id) => ISLAND_MODULES.some((pattern) => pattern.test(id)),
                  },
                ],
              },
            },
          },
        },
      },
    },
    ssr: {
      // Native modules and the embedded database load from node_modules at run time.
      external: ['@node-rs/argon2', '@electric-sql/pglite', 'pg', 'pino'],
    },
  },
});
