import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/lib/contracts/inventories.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import { createInventory } from '../../src/lib/server/inventories/inventories.ts';
import { setMemberRole } from '../../src/lib/server/inventories/members.ts';
import { createItemForMember } from '../../src/lib/server/items/items.ts';
import { createLocationForMember } from '../../src/lib/server/items/locations.ts';
import { BACKENDS, personalInventoryOf } from '../helpers/database.ts';
import { registerInDatabase, signIn, SiteClient, startSite, type Site } from '../helpers/site.ts';
import { postForm } from '../security/kit.ts';

/**
 * The locations and tags pages over HTTP, for every role: what each member sees and may
 * change, what a stranger is told (exactly what a missing id gets), the tree's rules as the
 * forms report them, and that nothing a refused post touched changed.
 */

type Person = 'owner' | 'editor' | 'viewer' | 'stranger';
const MEMBERS: readonly (Person & Role)[] = ['owner', 'editor', 'viewer'];
const PEOPLE: readonly Person[] = [...MEMBERS, 'stranger'];

/** The seeded locations by name, and the seeded items and tags. */
type Ids = Record<string, number>;

async function seedPlaces(db: Kysely<Database>) {
  const users = {} as Record<Person, number>;
  for (const person of PEOPLE) users[person] = await registerInDatabase(db, `${person}_pl`);
  const owner = { userId: users.owner, onlyInventoryId: null };
  const shared = await createInventory(db, users.owner, 'Workshop <b>');
  for (const role of ['editor', 'viewer'] as const) {
    await setMemberRole(db, owner, shared, `${role}_pl`, role);
  }
  const locations: Ids = {};
  const place = async (name: string, parent?: string) => {
    const outcome = await createLocationForMember(db, owner, 'edit', shared, {
      name,
      parentId: parent === undefined ? null : locations[parent]!,
    });
    if (outcome.status !== 'created') throw new Error(`seeding ${name}: ${outcome.status}`);
    locations[name] = outcome.location.id;
  };
  await place('Garage');
  await place('Shelf 2', 'Garage');
  await place('Blue box', 'Shelf 2');
  await place('Attic');
  await place('Cellar');
  await place('Crate', 'Cellar');
  await place('Shed');
  await place('Porch');
  await place('Deep 1');
  for (let level = 2; level <= 10; level += 1) await place(`Deep ${level}`, `Deep ${level - 1}`);
  const items: Ids = {};
  const item = async (name: string, amount: number, where: string | null, tags: string[]) => {
    const outcome = await createItemForMember(db, owner, 'edit', shared, {
      name,
      amount,
      description: '',
      locationId: where === null ? null : locations[where]!,
      tags,
      minAmount: name === 'Drill' ? 5 : null,
    });
    if (!('item' in outcome)) throw new Error(`seeding ${name}: ${outcome.status}`);
    items[name] = outcome.item.id;
  };
  await item('Drill', 2, 'Blue box', ['tools', 'red']);
  await item('Saw', 3, 'Shelf 2', ['tools']);
  await item('Hammer', 1, 'Cellar', ['red', 'paint']);
  await item('Rope', 4, 'Crate', ['colour', 'obsolete']);
  await item('Glue', 1, 'Porch', ['spare']);
  const personalOfEditor = await personalInventoryOf(db, users.editor);
  await createItemForMember(
    db,
    { userId: users.editor, onlyInventoryId: null },
    'edit',
    personalOfEditor,
    {
      name: 'Private',
      amount: 1,
      description: '',
      tags: ['mine'],
    },
  );
  const tagRows = await db.selectFrom('tags').select(['id', 'name']).execute();
  const tags: Ids = Object.fromEntries(tagRows.map((row) => [row.name, row.id]));
  return { shared, locations, items, tags };
}

describe.each(BACKENDS)('locations and tags pages on %s', (backend) => {
  let site: Site;
  let seeded: Awaited<ReturnType<typeof seedPlaces>>;
  const clients = {} as Record<Person, SiteClient>;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      seeded = await seedPlaces(db);
    });
    for (const person of PEOPLE) clients[person] = await signIn(site.url, `${person}_pl`);
  }, 120_000);

  afterAll(async () => {
    await site?.close();
  });

  const locationsPage = () => `/inventories/${seeded.shared}/locations`;
  const tagsPage = () => `/inventories/${seeded.shared}/tags`;
  const locationPage = (name: string) => `/locations/${seeded.locations[name]}/`;

  async function html(client: SiteClient, path: string): Promise<string> {
    const response = await client.request(path);
    expect(response.status, path).toBe(200);
    return response.text();
  }

  /** The tree as the owner's Locations page shows it: one "name items amount" per row. */
  async function tree(): Promise<string[]> {
    const page = await html(clients.owner, locationsPage());
    const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(page)?.[1] ?? '';
    return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((row) =>
      row[1]!
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
    );
  }

  /** The tags as the owner's Tags page shows them: "name: N items". */
  async function tagLines(): Promise<string[]> {
    const page = await html(clients.owner, tagsPage());
    return [
      ...page.matchAll(/class="chip tag-chip"[^>]*>\s*<span>([^<]*)<\/span>[\s\S]*?(\d+ items?)</g),
    ].map((match) => `${match[1]}: ${match[2]}`);
  }

  /** The names of the items directly in a location, as its page lists them. */
  async function itemsIn(name: string): Promise<string[]> {
    const page = await html(clients.owner, locationPage(name));
    return [...page.matchAll(/<a href="\/items\/\d+\/">([^<]*)<\/a>/g)].map((m) => m[1]!);
  }

  async function exportedNames(): Promise<string[]> {
    const response = await clients.owner.request(`/json/?inventory=${seeded.shared}`);
    expect(response.status).toBe(200);
    const objects = (await response.json()) as { fields: { name: string } }[];
    return objects.map((object) => object.fields.name).sort();
  }

  /** Everything the pages show of the shared inventory's places. */
  async function state() {
    return {
      tree: await tree(),
      tags: await tagLines(),
      items: await exportedNames(),
      garage: await html(clients.owner, locationPage('Garage')).then((page) =>
        page.replace(/<p class="message ok"[\s\S]*?<\/p>/, ''),
      ),
    };
  }

  it('shows every page to the members, the forms to editors only, and 404 to a stranger', async () => {
    for (const role of MEMBERS) {
      const locations = await html(clients[role], locationsPage());
      expect(locations).toContain('Workshop &lt;b&gt;');
      expect(locations).toContain(`href="${locationPage('Blue box')}"`);
      expect(locations).toContain(`href="/inventories/${seeded.shared}/"`);
      const location = await html(clients[role], locationPage('Shelf 2'));
      expect(location).toContain(
        `href="/inventories/${seeded.shared}/?location=${seeded.locations['Shelf 2']}"`,
      );
      expect(location).toContain(`href="/items/${seeded.items.Saw}/"`);
      expect(location).toContain(`href="${locationPage('Garage')}"`);
      const tags = await html(clients[role], tagsPage());
      expect(tags).toContain(`href="/inventories/${seeded.shared}/?tag=tools"`);
      const canEdit = role !== 'viewer';
      expect(locations.includes('name="action" value="create"'), role).toBe(canEdit);
      for (const action of ['rename', 'move', 'delete']) {
        expect(location.includes(`name="action" value="${action}"`), `${role} ${action}`).toBe(
          canEdit,
        );
        expect(tags.includes(`name="action" value="${action}"`), `${role} tags ${action}`).toBe(
          action === 'move' ? false : canEdit,
        );
      }
    }
    const missing = await clients.stranger.request('/locations/2147483647/');
    expect(missing.status).toBe(404);
    const missingText = await missing.text();
    for (const path of [locationsPage(), tagsPage(), locationPage('Garage')]) {
      const response = await clients.stranger.request(path);
      expect(response.status, path).toBe(404);
      const text = await response.text();
      expect(text).toBe(missingText);
      expect(text).not.toContain('Garage');
    }
    for (const path of [
      '/locations/abc/',
      '/locations/99999999999999999999/',
      '/locations/0/',
      '/inventories/abc/locations',
      '/inventories/99999999999999/tags',
    ]) {
      expect((await clients.owner.request(path)).status, path).toBe(404);
    }
  });

  it('counts what each location holds, with its sub-locations, and marks low items in words', async () => {
    const rows = await tree();
    expect(rows).toContain('Garage 2 5');
    expect(rows).toContain('Shelf 2 2 5');
    expect(rows).toContain('Blue box 1 2');
    // Tree order: each parent before what is inside it.
    expect(rows.indexOf('Garage 2 5')).toBeLessThan(rows.indexOf('Shelf 2 2 5'));
    expect(rows.indexOf('Shelf 2 2 5')).toBeLessThan(rows.indexOf('Blue box 1 2'));
    const box = await html(clients.viewer, locationPage('Blue box'));
    expect(box).toContain('Low: below its minimum of 5');
    expect(await html(clients.viewer, locationPage('Shelf 2'))).not.toContain('Low: below');
    expect(await itemsIn('Shelf 2')).toEqual(['Saw']);
    expect(await tagLines()).toEqual(
      expect.arrayContaining(['tools: 2 items', 'red: 2 items', 'paint: 1 item']),
    );
    expect(await tagLines()).not.toContain('mine: 1 item');
  });

  it('refuses every change to a viewer (403) and a stranger (404), changing nothing', async () => {
    const before = await state();
    const posts: [string, Record<string, string>][] = [
      [locationsPage(), { action: 'create', name: 'Intruder', parent: '' }],
      [locationPage('Garage'), { action: 'rename', name: 'Intruded' }],
      [locationPage('Garage'), { action: 'move', parent: String(seeded.locations.Attic) }],
      [locationPage('Shed'), { action: 'delete' }],
      [locationPage('Garage'), { action: 'delete', move_to: '' }],
      [tagsPage(), { action: 'rename', tag_id: String(seeded.tags.tools), name: 'hacked' }],
      [
        tagsPage(),
        { action: 'merge', tag_id: String(seeded.tags.tools), into: String(seeded.tags.red) },
      ],
      [tagsPage(), { action: 'delete', tag_id: String(seeded.tags.tools) }],
    ];
    for (const [path, fields] of posts) {
      const viewer = await postForm(clients.viewer, path, fields);
      expect(viewer.status, `viewer ${path} ${fields.action}`).toBe(403);
      expect(await viewer.text()).toContain('lets you look, not change anything');
      const stranger = await postForm(clients.stranger, path, fields);
      expect(stranger.status, `stranger ${path} ${fields.action}`).toBe(404);
    }
    expect(await state()).toEqual(before);
  });

  it('refuses a sibling name in any case, keeping what was typed', async () => {
    const clash = await postForm(clients.editor, locationsPage(), {
      action: 'create',
      name: 'gARAGE',
      parent: '',
    });
    expect(clash.status).toBe(409);
    const page = await clash.text();
    expect(page).toContain('There is a location named “Garage” there already.');
    expect(page).toContain('value="gARAGE"');
    expect(page).toMatch(/aria-invalid="true"/);
    // The same name in another place is fine.
    const elsewhere = await postForm(clients.editor, locationsPage(), {
      action: 'create',
      name: 'garage',
      parent: String(seeded.locations.Attic),
    });
    expect(elsewhere.status).toBe(303);
    expect(elsewhere.headers.get('location')).toBe(locationsPage());
    expect(await tree()).toContain('garage 0 0');
    const rename = await postForm(clients.editor, locationPage('Shed'), {
      action: 'rename',
      name: 'attic',
    });
    expect(rename.status).toBe(409);
    expect(await rename.text()).toContain('value="attic"');
  });

  it('answers bad input with a 4xx and its reason', async () => {
    const cases: [string, Record<string, string>, number, string][] = [
      [locationsPage(), { action: 'create', name: '  ', parent: '' }, 400, 'Enter the location'],
      [
        locationsPage(),
        { action: 'create', name: 'x'.repeat(101), parent: '' },
        400,
        'at most 100',
      ],
      [locationsPage(), { action: 'create', name: 'A / B', parent: '' }, 400, 'cannot contain'],
      [
        locationsPage(),
        { action: 'create', name: 'Fine', parent: 'abc' },
        400,
        'Choose a location',
      ],
      [
        locationsPage(),
        { action: 'create', name: 'Fine', parent: '2147483647' },
        422,
        'Choose one of',
      ],
      [locationsPage(), { action: 'explode' }, 400, 'not known here'],
      [locationPage('Shed'), { action: 'move', parent: '1e3' }, 400, 'Choose a location'],
      [locationPage('Shed'), { action: 'delete', move_to: 'x' }, 400, 'Choose a location'],
      [tagsPage(), { action: 'rename', tag_id: 'x', name: 'y' }, 404, 'not here any more'],
      [
        tagsPage(),
        { action: 'rename', tag_id: String(seeded.tags.mine), name: 'y' },
        404,
        'not here any more',
      ],
      [
        tagsPage(),
        { action: 'rename', tag_id: String(seeded.tags.tools), name: 'a,b' },
        400,
        'comma',
      ],
      [
        tagsPage(),
        { action: 'merge', tag_id: String(seeded.tags.tools), into: String(seeded.tags.tools) },
        422,
        'Choose another tag',
      ],
      [
        tagsPage(),
        { action: 'merge', tag_id: String(seeded.tags.tools), into: String(seeded.tags.mine) },
        422,
        'Choose another tag',
      ],
    ];
    const before = await state();
    for (const [path, fields, status, message] of cases) {
      const response = await postForm(clients.editor, path, fields);
      expect(response.status, JSON.stringify(fields)).toBe(status);
      expect(await response.text(), JSON.stringify(fields)).toContain(message);
    }
    expect(await state()).toEqual(before);
  });

  it('keeps the tree at most ten levels deep and out of cycles', async () => {
    const deeper = await postForm(clients.editor, locationsPage(), {
      action: 'create',
      name: 'Deep 11',
      parent: String(seeded.locations['Deep 10']),
    });
    expect(deeper.status).toBe(422);
    expect(await deeper.text()).toContain('at most 10 levels deep');
    const moveDeep = await postForm(clients.editor, locationPage('Deep 1'), {
      action: 'move',
      parent: String(seeded.locations.Attic),
    });
    expect(moveDeep.status).toBe(422);
    expect(await moveDeep.text()).toContain('at most 10 levels deep');
    const cycle = await postForm(clients.editor, locationPage('Garage'), {
      action: 'move',
      parent: String(seeded.locations['Blue box']),
    });
    expect(cycle.status).toBe(422);
    expect(await cycle.text()).toContain('cannot go inside itself');
    // The move form offers neither the location itself nor anything inside it.
    const garage = await html(clients.editor, locationPage('Garage'));
    for (const inside of ['Garage', 'Shelf 2', 'Blue box']) {
      expect(garage).not.toContain(`<option value="${seeded.locations[inside]}"`);
    }
    expect(garage).toContain(`<option value="${seeded.locations.Attic}"`);
  });

  it('moves a location with all it holds', async () => {
    const moved = await postForm(clients.owner, locationPage('Shelf 2'), {
      action: 'move',
      parent: String(seeded.locations.Attic),
    });
    expect(moved.status).toBe(303);
    expect(moved.headers.get('location')).toBe(locationPage('Shelf 2'));
    const rows = await tree();
    expect(rows).toContain('Garage 0 0');
    expect(rows).toContain('Attic 2 5');
    const shelf = await html(clients.owner, locationPage('Shelf 2'));
    expect(shelf).toContain(`href="${locationPage('Attic')}"`);
    expect(shelf).toContain(`href="${locationPage('Blue box')}"`);
    const back = await postForm(clients.owner, locationPage('Shelf 2'), {
      action: 'move',
      parent: String(seeded.locations.Garage),
    });
    expect(back.status).toBe(303);
  });

  it('deletes an empty location at once, and a full one only once told where its contents go', async () => {
    const empty = await postForm(clients.editor, locationPage('Shed'), { action: 'delete' });
    expect(empty.status).toBe(303);
    expect(empty.headers.get('location')).toBe(locationsPage());
    expect(empty.headers.getSetCookie().join()).toMatch(/notice=/);
    expect((await clients.editor.request(locationPage('Shed'))).status).toBe(404);

    const items = await exportedNames();
    const asked = await postForm(clients.editor, locationPage('Porch'), { action: 'delete' });
    expect(asked.status).toBe(409);
    expect(await asked.text()).toContain('choose where its contents go');
    expect(await itemsIn('Porch')).toEqual(['Glue']);

    const intoAttic = await postForm(clients.editor, locationPage('Porch'), {
      action: 'delete',
      move_to: String(seeded.locations.Attic),
    });
    expect(intoAttic.status).toBe(303);
    expect(await itemsIn('Attic')).toEqual(['Glue']);

    // Into nothing: its items keep no location, its sub-locations go to the top.
    const page = await html(clients.editor, locationPage('Cellar'));
    expect(page).toContain('No location: items keep no location');
    const toNone = await postForm(clients.editor, locationPage('Cellar'), {
      action: 'delete',
      move_to: '',
    });
    expect(toNone.status).toBe(303);
    const rows = await tree();
    expect(rows.some((row) => row.startsWith('Cellar'))).toBe(false);
    expect(rows).toContain('Crate 1 4');
    expect(await exportedNames()).toEqual(items);
  });

  it('renames a tag, offers merging when the name is taken, merges and deletes', async () => {
    const renamed = await postForm(clients.editor, tagsPage(), {
      action: 'rename',
      tag_id: String(seeded.tags.spare),
      name: 'Spare parts',
    });
    expect(renamed.status).toBe(303);
    expect(renamed.headers.get('location')).toBe(tagsPage());
    expect(await tagLines()).toContain('Spare parts: 1 item');

    const taken = await postForm(clients.editor, tagsPage(), {
      action: 'rename',
      tag_id: String(seeded.tags.paint),
      name: 'COLOUR',
    });
    expect(taken.status).toBe(409);
    const offer = await taken.text();
    expect(offer).toContain('There is a tag named “colour” already.');
    expect(offer).toMatch(/name="into" value="\d+"[\s\S]*Merge “paint” into “colour”/);

    const merged = await postForm(clients.editor, tagsPage(), {
      action: 'merge',
      tag_id: String(seeded.tags.paint),
      into: String(seeded.tags.colour),
    });
    expect(merged.status).toBe(303);
    const lines = await tagLines();
    expect(lines).toContain('colour: 2 items');
    expect(lines.some((line) => line.startsWith('paint:'))).toBe(false);

    const items = await exportedNames();
    const deleted = await postForm(clients.editor, tagsPage(), {
      action: 'delete',
      tag_id: String(seeded.tags.obsolete),
    });
    expect(deleted.status).toBe(303);
    expect((await tagLines()).some((line) => line.startsWith('obsolete:'))).toBe(false);
    expect(await exportedNames()).toEqual(items);
    expect(await html(clients.owner, tagsPage())).toContain(
      `href="/inventories/${seeded.shared}/?tag=Spare%20parts"`,
    );
  });
});
