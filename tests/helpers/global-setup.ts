import { buildIfStale } from '../../scripts/build-if-stale.ts';

/** Server tests run the production build, so make sure it is current once per run. */
export default function setup(): void {
  buildIfStale();
}
