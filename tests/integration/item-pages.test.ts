import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/lib/contracts/inventories.ts';
import { createInventory } from '../../src/lib/server/inventories/inventories.ts';
import { setMemberRole } from '../../src/lib/server/inventories/members.ts';
import { createItemForMember, type NewItem } from '../../src/lib/server/items/items.ts';
import { createLocationForMember } from '../../src/lib/server/items/locations.ts';
import { BACKENDS, personalInventoryOf } from '../helpers/database.ts';
import { registerInDatabase, signIn, SiteClient, startSite, type Site } from '../helpers/site.ts';
import { postForm } from '../security/kit.ts';

/**
 * The pages of places, tags and minimums that are not the locations' and tags' own: the main
 * page's filters, the item page, and the place fields of the add and edit forms, for every
 * role, over HTTP against the production server. Refused requests change nothing.
 */

type Person = 'owner' | 'editor' | 'viewer' | 'stranger';
const PEOPLE: readonly Person[] = ['owner', 'editor', 'viewer', 'stranger'];

interface Seeded {
  shared: number;
  garage: number;
  shelf: number;
  attic: number;
  /** A location of the stranger's own inventory. */
  foreignLocation: number;
  items: Record<'hammer' | 'saw' | 'rope' | 'lamp', number>;
}

/** The item names a page's table lists, in its order. */
function listedNames(html: string): string[] {
  const rows = html.replace(/<template\b[\s\S]*?<\/template>/g, '');
  return [...rows.matchAll(/<a data-cell="name"[^>]*>([\s\S]*?)<\/a>/g)].map((m) => m[1]!);
}

describe.each(BACKENDS)('item places through the pages on %s', (backend) => {
  let site: Site;
  let seeded: Seeded;
  const clients = {} as Record<Person, SiteClient>;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      const users = {} as Record<Person, number>;
      for (const person of PEOPLE) users[person] = await registerInDatabase(db, `${person}_pl`);
      const owner = { userId: users.owner, onlyInventoryId: null };
      const shared = await createInventory(db, users.owner, 'Workshop');
      for (const role of ['editor', 'viewer'] as const) {
        await setMemberRole(db, owner, shared, `${role}_pl`, role);
      }
      const place = async (name: string, parentId: number | null, inventory = shared) => {
        const caller =
          inventory === shared ? owner : { userId: users.stranger, onlyInventoryId: null };
        const made = await createLocationForMember(db, caller, 'edit', inventory, {
          name,
          parentId,
        });
        if (made.status !== 'created') throw new Error(made.status);
        return made.location.id;
      };
      const garage = await place('Garage', null);
      const shelf = await place('Shelf 2', garage);
      const attic = await place('Attic', null);
      const foreignLocation = await place(
        'Vault',
        null,
        await personalInventoryOf(db, users.stranger),
      );
      const add = async (item: Omit<NewItem, 'description'>) => {
        const made = await createItemForMember(db, owner, 'edit', shared, {
          description: '',
          ...item,
        });
        if (made.status !== 'created') throw new Error(made.status);
        return made.item.id;
      };
      const items = {
        hammer: await add({
          name: 'Hammer',
          amount: 1,
          locationId: shelf,
          tags: ['tools', 'red'],
          minAmount: 3,
        }),
        saw: await add({ name: 'Saw', amount: 2, locationId: garage, tags: ['Tools'] }),
        rope: await add({
          name: 'Rope',
          amount: 5,
          locationId: attic,
          tags: ['red'],
          minAmount: 5,
        }),
        lamp: await add({ name: 'Lamp', amount: 0, minAmount: 0 }),
      };
      seeded = { shared, garage, shelf, attic, foreignLocation, items };
    });
    for (const person of PEOPLE) clients[person] = await signIn(site.url, `${person}_pl`);
  }, 120_000);

  afterAll(async () => {
    await site?.close();
  });

  const listPage = async (person: Person, query: string) => {
    const response = await clients[person].request(`/inventories/${seeded.shared}/?${query}`);
    expect(response.status).toBe(200);
    return response.text();
  };

  /** The item as the API has it now: what a refused change must have left alone. */
  async function stored(id: number) {
    const response = await clients.owner.request(`/api/items/${id}`);
    expect(response.status).toBe(200);
    return (await response.json()) as Record<string, unknown>;
  }

  describe('the main page filters', () => {
    it.each([
      [
        'location (with what is inside it)',
        (): string => `location=${seeded.garage}`,
        ['Hammer', 'Saw'],
      ],
      ['a tag, any case', (): string => 'tag=TOOLS', ['Hammer', 'Saw']],
      ['two tags, all of them', (): string => 'tag=tools&tag=red', ['Hammer']],
      ['low stock (below the minimum, not at it)', (): string => 'low=true', ['Hammer']],
      ['text in a place name', (): string => 'q=shelf', ['Hammer']],
      ['text in a tag name', (): string => 'q=RED', ['Hammer', 'Rope']],
      [
        'all combined',
        (): string => `location=${seeded.garage}&tag=red&low=true&q=ham`,
        ['Hammer'],
      ],
      [
        'a place and a tag nothing has together',
        (): string => `location=${seeded.attic}&tag=tools`,
        [],
      ],
    ] as const)('by %s', async (_, query, expected) => {
      for (const person of ['owner', 'viewer'] as const) {
        const html = await listPage(person, `${query()}&sort=name`);
        expect(listedNames(html)).toEqual(expected);
      }
    });

    it('pages a filtered list and keeps the filters in the pager and the chips', async () => {
      const html = await listPage('owner', `tag=red&tag=tools&sort=name&limit=1`);
      expect(listedNames(html)).toEqual(['Hammer']);
      const second = await listPage('owner', 'tag=red&sort=name&limit=1&page=2');
      expect(listedNames(second)).toEqual(['Rope']);
      // The pager's way back keeps the filter (and the page leaves the address at page 1).
      expect(second).toMatch(/href="\/inventories\/\d+\/\?tag=red&amp;sort=name&amp;limit=1"/);
      expect(html.match(/data-testid="filter-chip"/g)).toHaveLength(2);
      expect(html).toContain('Clear all filters');
    });

    it('counts the low items and links to them', async () => {
      const html = await listPage('viewer', '');
      expect(html).toMatch(/data-testid="low-link"[^>]*>\s*1 low/);
      expect(html).toMatch(/href="\/inventories\/\d+\/\?low=true"/);
    });

    it('answers nonsense in a shared link with the whole list, and a gone place with nothing', async () => {
      const all = ['Hammer', 'Lamp', 'Rope', 'Saw'];
      for (const query of ['location=abc', 'low=maybe', `tag=${'x'.repeat(300)}&tag=`, 'tag=']) {
        const html = await listPage('owner', `${query}&sort=name`);
        expect(listedNames(html), query).toEqual(all);
      }
      const foreign = await listPage('owner', `location=${seeded.foreignLocation}`);
      expect(listedNames(foreign)).toEqual([]);
      expect(foreign).toContain('a location that is gone');
      expect(foreign).toContain('No items match these filters.');
    });
  });

  describe('the item page', () => {
    it.each(['owner', 'editor', 'viewer'] as const)(
      'shows everything to the %s',
      async (person) => {
        const response = await clients[person].request(`/items/${seeded.items.hammer}/`);
        expect(response.status).toBe(200);
        const html = await response.text();
        expect(html).toContain('>Hammer</h1>');
        expect(html).toMatch(
          /href="\/locations\/\d+\/">Garage<\/a>[\s\S]*href="\/locations\/\d+\/">Shelf 2<\/a>/,
        );
        expect(html).toContain('>red</a>');
        expect(html).toContain('>tools</a>');
        expect(html).toMatch(/Low/);
        expect(html.includes(`/items/${seeded.items.hammer}/edit`)).toBe(person !== 'viewer');
      },
    );

    it('is a 404 for a stranger and for ids that are not items', async () => {
      const { items } = seeded;
      expect((await clients.stranger.request(`/items/${items.hammer}/`)).status).toBe(404);
      for (const id of ['0', 'abc', '99999999999', '2147483647', '1e3']) {
        expect((await clients.owner.request(`/items/${id}/`)).status, id).toBe(404);
      }
    });
  });

  describe('the edit form', () => {
    const form = (overrides: Record<string, string>) => ({
      name: 'Saw',
      amount: '2',
      description: '',
      location: '',
      tags: 'Tools',
      min_amount: '',
      ...overrides,
    });

    it('moves, tags and sets the minimum in one save', async () => {
      const before = await stored(seeded.items.saw);
      const response = await postForm(
        clients.editor,
        `/items/${seeded.items.saw}/edit?return_to=%2F`,
        form({
          location: String(seeded.attic),
          tags: 'tools, blue, Blue,  ',
          min_amount: '4',
          version: String(before.version),
        }),
      );
      expect(response.status, await response.clone().text()).toBe(303);
      const after = await stored(seeded.items.saw);
      expect(after).toMatchObject({
        location_id: seeded.attic,
        // The inventory's tag keeps the spelling it was made with.
        tags: ['blue', 'tools'],
        min_amount: 4,
      });
      // And back, with no location and no minimum.
      const back = await postForm(
        clients.owner,
        `/items/${seeded.items.saw}/edit`,
        form({ location: String(seeded.garage), tags: 'Tools', version: String(after.version) }),
      );
      expect(back.status).toBe(303);
      expect(await stored(seeded.items.saw)).toMatchObject({
        location_id: seeded.garage,
        tags: ['tools'],
        min_amount: null,
      });
    });

    it.each([
      [
        "another inventory's location",
        (): Record<string, string> => ({ location: String(seeded.foreignLocation) }),
        'location',
      ],
      [
        'a location that is not an id',
        (): Record<string, string> => ({ location: 'garage' }),
        'location',
      ],
      [
        '21 tags',
        (): Record<string, string> => ({
          tags: Array.from({ length: 21 }, (_, i) => `t${i}`).join(','),
        }),
        'tags',
      ],
      ['a tag of 51 characters', (): Record<string, string> => ({ tags: 'x'.repeat(51) }), 'tags'],
      ['a negative minimum', (): Record<string, string> => ({ min_amount: '-1' }), 'min_amount'],
      [
        'a minimum that is not a number',
        (): Record<string, string> => ({ min_amount: 'few' }),
        'min_amount',
      ],
    ] as const)('refuses %s beside its field, changing nothing', async (_, overrides, field) => {
      const before = await stored(seeded.items.saw);
      const response = await postForm(
        clients.editor,
        `/items/${seeded.items.saw}/edit`,
        form(overrides()),
      );
      expect(response.status).toBe(400);
      expect(await response.text()).toContain(`id="id_${field}_error"`);
      expect(await stored(seeded.items.saw)).toEqual(before);
    });

    it('is a 403 for a viewer and a 404 for a stranger, changing nothing', async () => {
      const before = await stored(seeded.items.saw);
      const changed = form({ location: String(seeded.attic), tags: 'stolen' });
      const refusals: Record<string, number> = { viewer: 403, stranger: 404 };
      for (const person of ['viewer', 'stranger'] as const) {
        const response = await postForm(
          clients[person],
          `/items/${seeded.items.saw}/edit`,
          changed,
        );
        expect(response.status, person).toBe(refusals[person]);
      }
      expect(await stored(seeded.items.saw)).toEqual(before);
      const tags = await clients.owner.request(`/api/inventories/${seeded.shared}/tags`);
      expect(JSON.stringify(await tags.json())).not.toContain('stolen');
    });
  });

  describe('the add form', () => {
    it('adds an item with its place, tags and minimum', async () => {
      const response = await postForm(clients.editor, `/create-item?inventory=${seeded.shared}`, {
        name: 'Chisel',
        amount: '1',
        description: '',
        location: String(seeded.shelf),
        tags: 'tools, sharp',
        min_amount: '2',
      });
      expect(response.status).toBe(303);
      const html = await listPage('editor', 'q=chisel');
      expect(listedNames(html)).toEqual(['Chisel']);
      expect(html).toContain('Garage / Shelf 2');
      expect(html).toMatch(/Low[\s\S]*min[\s\S]*2/);
    });

    it.each(['owner', 'editor'] as Role[])(
      "refuses another inventory's location (%s) and stores nothing",
      async (person) => {
        const name = `Smuggled by ${person}`;
        const response = await postForm(
          clients[person as Person],
          `/create-item?inventory=${seeded.shared}`,
          {
            name,
            amount: '1',
            description: '',
            location: String(seeded.foreignLocation),
          },
        );
        expect(response.status).toBe(400);
        expect(await response.text()).toContain('id="id_location_error"');
        expect(listedNames(await listPage('owner', `q=${encodeURIComponent(name)}`))).toEqual([]);
      },
    );
  });
});
