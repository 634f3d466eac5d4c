/**
 * Text for HTML, escaped for an element's content and a quoted attribute's value alike: the
 * five characters that could end either or start markup become character references.
 */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
