import type { ClientDirective } from 'astro';

/**
 * `client:interact`: hydrates an island on its first use (the pointer over it or pressed on
 * it, focus or a key inside it) rather than at page load. The main page's add-item form is
 * rendered by the server and works without JavaScript, so nobody should download Svelte
 * until they reach for it: that keeps the page within its size budget (issue 20). Astro
 * inlines this into every page with such an island, so it stays small.
 *
 * The focus that woke the island happened before its handlers existed, so it is replayed
 * for them. (What was typed meanwhile is the component's to keep: ItemForm starts from the
 * fields' values, as `bind:value` would.)
 */
const interact: ClientDirective = (load, _options, island) => {
  let woken = false;
  const wake = async () => {
    if (woken) return;
    woken = true;
    const hydrate = await load();
    await hydrate();
    const focused = document.activeElement;
    if (focused && island.contains(focused)) {
      focused.dispatchEvent(new FocusEvent('focusin', { bubbles: true }));
    }
  };
  for (const type of ['pointerenter', 'pointerdown', 'focusin', 'keydown']) {
    island.addEventListener(type, wake);
  }
};

export default interact;
