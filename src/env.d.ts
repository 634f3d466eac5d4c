/// <reference types="astro/client" />

declare namespace App {
  interface Locals {
    /** Set by the Node front for every request; shown on error pages and in the log. */
    requestId: string;
  }
}
