// @ts-check
import { defineConfig } from 'astro/config';
import node from '@astrojs/node';
import svelte from '@astrojs/svelte';

export default defineConfig({
  output: 'server',
  adapter: node({
    mode: 'standalone',
    // The adapter's default is 1 GB; forms and JSON bodies are capped at 64 KiB by the
    // middleware, so anything larger than this is refused before it is buffered.
    bodySizeLimit: 1024 * 1024,
  }),
  integrations: [svelte()],
  // Sessions are Lucia's, kept in our own database; Astro's store would be a second,
  // unused copy on disk.
  session: false,
  security: {
    checkOrigin: true,
  },
  server: { port: 4321 },
  trailingSlash: 'ignore',
  build: {
    // Styles stay in files so the Content-Security-Policy never has to allow inline ones.
    inlineStylesheets: 'never',
  },
  vite: {
    ssr: {
      // Native modules and the embedded database load from node_modules at run time.
      external: ['@node-rs/argon2', '@electric-sql/pglite', 'pg', 'pino'],
    },
  },
});
