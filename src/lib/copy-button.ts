/**
 * Copy buttons for a secret shown once (an API token, an invite link): a button with
 * `data-copy-target="<id>"` copies that element's text (an input's value), and says so in
 * the `[data-copy-status]` beside it. Without the clipboard (no script, an insecure origin)
 * the buttons stay hidden and the secret is selected by hand.
 */
export function enhanceCopyButtons(): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>('[data-copy-target]')) {
    const target = document.getElementById(button.dataset.copyTarget ?? '');
    const status = button.parentElement?.querySelector<HTMLElement>('[data-copy-status]');
    if (!target || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener('click', async () => {
      const text = target instanceof HTMLInputElement ? target.value : target.textContent;
      try {
        await navigator.clipboard.writeText(text?.trim() ?? '');
        if (status) status.textContent = 'Copied.';
      } catch {
        if (status) status.textContent = 'Copying failed: select it and copy it by hand.';
      }
    });
  }
}
