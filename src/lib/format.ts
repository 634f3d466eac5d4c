/** "45 seconds", "1 minute", "15 minutes": a wait, rounded up to whole minutes past one. */
export function formatWait(seconds: number): string {
  if (seconds < 60) return seconds === 1 ? '1 second' : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/** "2026-11-25 23:58:59 UTC": unambiguous, the same for every reader. */
export function formatTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

/**
 * Whether a description may run past the two lines the table shows, so that its row offers
 * to show all of it: more than a short line's worth of text, or more than two lines.
 */
export function isLongText(text: string): boolean {
  return text.length > 80 || text.split('\n').length > 2;
}
