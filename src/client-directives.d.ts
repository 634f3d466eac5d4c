// Astro's client directives, and ours (astro.config.mjs). The file is a module (the export
// below), so that `declare module` adds to Astro's types rather than replacing them.
export {};

declare module 'astro' {
  interface AstroClientDirectives {
    /** Hydrates on first use rather than at load (src/lib/client-interact.ts). */
    'client:interact'?: boolean;
  }
}
