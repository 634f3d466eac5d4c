import { makeEmbeddedTemplate } from '../src/lib/server/db/template.ts';

/** Part of `npm run build`: see src/lib/server/db/template.ts. */
const template = await makeEmbeddedTemplate();
process.stdout.write(`embedded database template: ${template}\n`);
