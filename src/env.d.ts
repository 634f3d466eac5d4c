/// <reference types="astro/client" />

declare namespace App {
  interface Locals {
    /** Set by the Node front for every request; shown on error pages and in the log. */
    requestId: string;
    /** The client's address (see request-info.ts), for throttling. */
    clientAddress: string;
    /** How this request's errors are answered, from the route table (http/routes.ts). */
    format: import('./lib/server/http/problems.ts').AnswerFormat;
    /** True over HTTPS: cookies are then Secure. */
    secure: boolean;
    /** The signed-in user and their session, or null for anonymous requests. */
    user: import('lucia').User | null;
    session: import('lucia').Session | null;
    /** The personal API token a request came with instead of a session, if any. */
    token: {
      id: number;
      name: string;
      scope: import('./lib/server/db/types.ts').TokenScope;
      /** The one inventory the token may reach, or null for all of its owner's. */
      inventoryId: number | null;
    } | null;
  }
}
