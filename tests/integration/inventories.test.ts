import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInventory } from '../../src/lib/server/inventories/inventories.ts';
import {
  createInviteLink,
  joinWithInvite,
  listInviteLinks,
  revokeInviteLink,
} from '../../src/lib/server/inventories/invites.ts';
import { removeMember, setMemberRole } from '../../src/lib/server/inventories/members.ts';
import type { Role } from '../../src/lib/contracts/inventories.ts';
import {
  BACKENDS,
  createTestDatabase,
  personalInventoryOf,
  type TestDatabase,
} from '../helpers/database.ts';
import { startServer } from '../helpers/server.ts';
import { registerInDatabase, signIn, SiteClient, startSite, type Site } from '../helpers/site.ts';
import { postForm } from '../security/kit.ts';

/**
 * Shared inventories through the pages and the exports, for every role: what each member
 * sees and may change, what a stranger is told (exactly what a missing id gets), and that
 * nothing a refused request touched changed. The JSON API has its own suite.
 */

type Person = 'owner' | 'editor' | 'viewer' | 'stranger';
const MEMBERS: readonly (Person & Role)[] = ['owner', 'editor', 'viewer'];
const PEOPLE: readonly Person[] = [...MEMBERS, 'stranger'];

interface Seeded {
  users: Record<Person, number>;
  shared: number;
  personal: Record<Person, number>;
  /** Items in the shared inventory. */
  sharedItems: number[];
}

describe.each(BACKENDS)('shared inventories on %s', (backend) => {
  let site: Site;
  let seeded: Seeded;
  const clients = {} as Record<Person, SiteClient>;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      const users = {} as Record<Person, number>;
      for (const person of PEOPLE) users[person] = await registerInDatabase(db, `${person}_inv`);
      const owner = { userId: users.owner, onlyInventoryId: null };
      const shared = await createInventory(db, users.owner, 'Workshop <shared> & co');
      for (const role of ['editor', 'viewer'] as const) {
        await setMemberRole(db, owner, shared, `${role}_inv`, role);
      }
      const personal = {} as Record<Person, number>;
      for (const person of PEOPLE) personal[person] = await personalInventoryOf(db, users[person]);
      const { rows } = await sql<{ id: number }>`
        insert into items (inventory_id, created_by, updated_by, name, amount, description)
        values (${shared}, ${users.owner}, ${users.owner}, 'Drill', 2, 'Cordless'),
               (${shared}, ${users.owner}, ${users.owner}, 'Saw', 1, ''),
               (${personal.owner}, ${users.owner}, ${users.owner}, 'Diary', 1, 'mine'),
               (${personal.stranger}, ${users.stranger}, ${users.stranger}, 'Secret', 9, 'theirs')
        returning id`.execute(db);
      seeded = { users, shared, personal, sharedItems: [rows[0]!.id, rows[1]!.id] };
    });
    for (const person of PEOPLE) clients[person] = await signIn(site.url, `${person}_inv`);
  }, 120_000);

  afterAll(async () => {
    await site?.close();
  });

  /** Every item a client can read, as its /json/ export lists them. */
  async function exported(client: SiteClient, query = '') {
    const response = await client.request(`/json/${query}`);
    expect(response.status).toBe(200);
    const objects = (await response.json()) as {
      pk: number;
      fields: { user: number | null; name: string; amount: number; description: string };
    }[];
    return objects.map(({ pk, fields }) => ({ id: pk, ...fields }));
  }

  const sharedPage = () => `/inventories/${seeded.shared}/`;
  const ownerView = () => exported(clients.owner, `?inventory=${seeded.shared}`);

  it('shows the inventory to its members, with their role, and to nobody else', async () => {
    for (const role of MEMBERS) {
      const response = await clients[role].request(sharedPage());
      expect(response.status, role).toBe(200);
      const html = await response.text();
      expect(html).toContain('Workshop &lt;shared&gt; &amp; co');
      expect(html).toContain('Drill');
      expect(html).not.toContain('Diary');
      expect(html).toMatch(new RegExp(`data-testid="role"[^>]*>${role[0]!.toUpperCase()}`));
    }
    const strangers = await clients.stranger.request(sharedPage());
    expect(strangers.status).toBe(404);
    expect(await strangers.text()).not.toContain('Drill');
    // Exactly what an inventory that does not exist answers.
    expect((await clients.stranger.request('/inventories/2147483647/')).status).toBe(404);
    expect((await clients.stranger.request('/inventories/abc/')).status).toBe(404);
  });

  it('gives a viewer the list without a control that changes it', async () => {
    const html = await (await clients.viewer.request(sharedPage())).text();
    expect(html).not.toContain('Add Item');
    expect(html).not.toMatch(/\/adjust\?/);
    expect(html).not.toMatch(/\/items\/\d+\/(edit|delete)/);
    const editors = await (await clients.editor.request(sharedPage())).text();
    expect(editors).toContain('Add Item');
    expect(editors).toMatch(/\/items\/\d+\/adjust\?/);
  });

  it('opens the inventory used last at /', async () => {
    const editor = await signIn(site.url, 'editor_inv');
    expect(await (await editor.request('/')).text()).toContain('My items');
    await editor.request(sharedPage());
    expect(await (await editor.request('/')).text()).toContain('Workshop &lt;shared&gt;');
  });

  it('lets editors and owners change items through the pages; viewers get 403, strangers 404', async () => {
    const [drill] = seeded.sharedItems;
    const before = await ownerView();
    for (const [person, status] of [
      ['viewer', 403],
      ['stranger', 404],
    ] as const) {
      const client = clients[person];
      expect((await client.request(`/items/${drill}/edit`)).status, person).toBe(status);
      expect((await client.request(`/items/${drill}/delete`)).status, person).toBe(status);
      const edit = await postForm(client, `/items/${drill}/edit`, {
        name: 'Taken',
        amount: '0',
        description: '',
      });
      expect(edit.status, person).toBe(status);
      const adjust = await postForm(client, `/items/${drill}/adjust`, { delta: '1' });
      expect(adjust.status, person).toBe(status);
      const remove = await postForm(client, `/items/${drill}/delete`, {});
      expect(remove.status, person).toBe(status);
      const add = await postForm(client, '/create-item', {
        name: 'Sneaked in',
        amount: '1',
        description: '',
        inventory: String(seeded.shared),
      });
      expect(add.status, person).toBe(status);
      if (status === 403) expect(await edit.text()).toContain('lets you look');
    }
    expect(await ownerView()).toEqual(before);

    for (const person of ['editor', 'owner'] as const) {
      const client = clients[person];
      expect((await client.request(`/items/${drill}/edit`)).status, person).toBe(200);
      const adjust = await postForm(client, `/items/${drill}/adjust`, { delta: '1' });
      expect(adjust.status, person).toBe(303);
    }
    const added = await postForm(clients.editor, '/create-item', {
      name: 'Clamp',
      amount: '4',
      description: '',
      inventory: String(seeded.shared),
    });
    expect(added.status).toBe(303);
    const after = await ownerView();
    expect(after.find((item) => item.id === drill)?.amount).toBe(4);
    expect(after.find((item) => item.name === 'Clamp')).toMatchObject({
      user: seeded.users.editor,
      amount: 4,
    });
  });

  it('exports every item a member can read; ?inventory= narrows; a stranger’s ids give []', async () => {
    const owner = await exported(clients.owner);
    expect(owner.map((item) => item.name)).toEqual(expect.arrayContaining(['Drill', 'Diary']));
    expect(owner.map((item) => item.name)).not.toContain('Secret');
    expect(owner.map((item) => item.id)).toEqual(
      [...owner.map((item) => item.id)].sort((a, b) => a - b),
    );
    const viewer = await exported(clients.viewer);
    expect(viewer.map((item) => item.name)).toContain('Drill');
    expect(viewer.map((item) => item.name)).not.toContain('Diary');
    const narrowed = await exported(clients.owner, `?inventory=${seeded.personal.owner}`);
    expect(narrowed.map((item) => item.name)).toEqual(['Diary']);
    for (const query of [
      `?inventory=${seeded.personal.stranger}`,
      '?inventory=abc',
      '?inventory=0',
      '?inventory=99999999999',
    ]) {
      expect(await exported(clients.owner, query), query).toEqual([]);
    }
    const [drill] = seeded.sharedItems;
    for (const format of ['json', 'xml'] as const) {
      const strangers = await clients.stranger.request(`/${format}/${drill}/`);
      expect(strangers.status).toBe(200);
      const body = await strangers.text();
      expect(body).not.toContain('Drill');
      const viewers = await (await clients.viewer.request(`/${format}/${drill}/`)).text();
      expect(viewers).toContain('Drill');
    }
    const xml = await (await clients.viewer.request(`/xml/?inventory=${seeded.shared}`)).text();
    expect(xml).toContain('Drill');
    expect(xml).not.toContain('Diary');
  });

  it('keeps both changes when two members edit one item at once: the second gets 409', async () => {
    const [, saw] = seeded.sharedItems;
    const versionOf = async (client: SiteClient) => {
      const html = await (await client.request(`/items/${saw}/edit`)).text();
      return /name="version" value="(\d+)"/.exec(html)![1]!;
    };
    const ownerOpened = await versionOf(clients.owner);
    const editorOpened = await versionOf(clients.editor);
    expect(ownerOpened).toBe(editorOpened);

    const first = await postForm(clients.owner, `/items/${saw}/edit`, {
      name: 'Saw',
      amount: '5',
      description: 'Sharpened',
      version: ownerOpened,
    });
    expect(first.status).toBe(303);
    const second = await postForm(clients.editor, `/items/${saw}/edit`, {
      name: 'Hand saw',
      amount: '1',
      description: '',
      version: editorOpened,
    });
    expect(second.status).toBe(409);
    const page = await second.text();
    // What the other member saved, beside what was typed, and nothing overwritten.
    expect(page).toContain('Sharpened');
    expect(page).toContain('value="Hand saw"');
    expect((await ownerView()).find((item) => item.id === saw)).toMatchObject({
      name: 'Saw',
      amount: 5,
      description: 'Sharpened',
    });
    // Saving again is made against what was saved meanwhile, on purpose.
    const newer = /name="version" value="(\d+)"/.exec(page)![1]!;
    expect(Number(newer)).toBe(Number(ownerOpened) + 1);
    const again = await postForm(clients.editor, `/items/${saw}/edit`, {
      name: 'Hand saw',
      amount: '1',
      description: '',
      version: newer,
    });
    expect(again.status).toBe(303);
    expect((await ownerView()).find((item) => item.id === saw)).toMatchObject({
      name: 'Hand saw',
      amount: 1,
    });
  });

  it('refuses to delete the account of the only owner of an inventory others are in', async () => {
    const refused = await postForm(clients.owner, '/settings/', {
      action: 'delete-account',
      password: 'Correct-Horse-Battery-9',
      confirmation: 'owner_inv',
    });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('Workshop &lt;shared&gt; &amp; co');
    expect((await clients.owner.request(sharedPage())).status).toBe(200);
  });
});

describe.runIf(BACKENDS.includes('postgres'))('membership across server processes', () => {
  it('refuses a removed member on their next request, in a second process too', async () => {
    let shared = 0;
    let ownerId = 0;
    const site = await startSite('postgres', async (db) => {
      ownerId = await registerInDatabase(db, 'two_owner');
      await registerInDatabase(db, 'two_member');
      shared = await createInventory(db, ownerId, 'Across');
      await setMemberRole(
        db,
        { userId: ownerId, onlyInventoryId: null },
        shared,
        'two_member',
        'editor',
      );
    });
    const second = await startServer({ DATABASE_URL: site.databaseUrl!, HOST: '127.0.0.1' });
    try {
      const member = await signIn(site.url, 'two_member');
      const elsewhere = new SiteClient(second.url, member.cookie, member.address);
      for (const client of [member, elsewhere]) {
        expect((await client.request(`/inventories/${shared}/`)).status).toBe(200);
      }
      const { openDatabase } = await import('../../src/lib/server/db/connect.ts');
      const handle = openDatabase({ databaseUrl: site.databaseUrl! });
      try {
        const removed = await removeMember(
          handle.db,
          { userId: ownerId, onlyInventoryId: null },
          shared,
          'two_member',
        );
        expect(removed).toEqual({ status: 'removed' });
      } finally {
        await handle.close();
      }
      for (const client of [member, elsewhere]) {
        expect((await client.request(`/inventories/${shared}/`)).status).toBe(404);
        expect(await (await client.request(`/json/?inventory=${shared}`)).json()).toEqual([]);
      }
    } finally {
      await second.stop('SIGTERM');
      await site.close();
    }
  }, 120_000);
});

describe.each(BACKENDS)('memberships and invite links on %s', (backend) => {
  let database: TestDatabase;
  let counter = 0;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
  });
  afterAll(async () => {
    await database?.drop();
  });

  const as = (userId: number) => ({ userId, onlyInventoryId: null });

  async function newUser(): Promise<{ id: number; username: string }> {
    counter += 1;
    const username = `member_${counter}`;
    return { id: await registerInDatabase(database.db, username), username };
  }

  async function roles(inventoryId: number) {
    const rows = await database.db
      .selectFrom('memberships')
      .select(['user_id', 'role'])
      .where('inventory_id', '=', inventoryId)
      .orderBy('user_id')
      .execute();
    return rows;
  }

  it('keeps an owner: the last one can neither leave nor be demoted', async () => {
    const owner = await newUser();
    const other = await newUser();
    const { db } = database;
    const id = await createInventory(db, owner.id, 'Club');
    expect(await setMemberRole(db, as(owner.id), id, owner.username, 'editor')).toEqual({
      status: 'last-owner',
    });
    expect(await removeMember(db, as(owner.id), id, owner.username)).toEqual({
      status: 'last-owner',
    });
    expect(await setMemberRole(db, as(owner.id), id, other.username, 'owner')).toMatchObject({
      status: 'added',
    });
    // Two owners demoting each other at once: one of them stays an owner.
    const outcomes = await Promise.all([
      setMemberRole(db, as(owner.id), id, other.username, 'viewer'),
      setMemberRole(db, as(other.id), id, owner.username, 'viewer'),
    ]);
    const owners = (await roles(id)).filter((row) => row.role === 'owner');
    expect(owners).toHaveLength(1);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(
      expect.arrayContaining(['changed']),
    );
    // The one left an owner may leave only after making someone else one.
    const remaining = owners[0]!.user_id;
    const left = remaining === owner.id ? owner : other;
    expect(await removeMember(db, as(left.id), id, left.username)).toEqual({
      status: 'last-owner',
    });
  });

  it('lets only owners change members; a member may leave; a stranger is told nothing', async () => {
    const { db } = database;
    const [owner, editor, stranger] = [await newUser(), await newUser(), await newUser()];
    const id = await createInventory(db, owner.id, 'Lab');
    await setMemberRole(db, as(owner.id), id, editor.username, 'editor');
    const before = await roles(id);
    expect(await setMemberRole(db, as(editor.id), id, stranger.username, 'owner')).toEqual({
      status: 'forbidden',
      role: 'editor',
    });
    expect(await removeMember(db, as(editor.id), id, owner.username)).toEqual({
      status: 'forbidden',
      role: 'editor',
    });
    expect(await setMemberRole(db, as(stranger.id), id, stranger.username, 'owner')).toEqual({
      status: 'not-found',
    });
    expect(await removeMember(db, as(stranger.id), id, owner.username)).toEqual({
      status: 'not-found',
    });
    expect(await setMemberRole(db, as(owner.id), id, 'no_such_user', 'viewer')).toEqual({
      status: 'no-such-user',
    });
    expect(await roles(id)).toEqual(before);
    expect(await removeMember(db, as(editor.id), id, editor.username)).toEqual({
      status: 'removed',
    });
    expect((await roles(id)).map((row) => row.user_id)).toEqual([owner.id]);
  });

  it('joins by a link until it expires, is used up or is revoked', async () => {
    const { db } = database;
    const owner = await newUser();
    const id = await createInventory(db, owner.id, 'Household');
    const link = async (maxUses: number | null) => {
      const created = await createInviteLink(db, as(owner.id), id, {
        role: 'editor',
        days: 7,
        maxUses,
      });
      if (created.status !== 'created') throw new Error(created.status);
      return created.secret;
    };

    const once = await link(1);
    const [first, second] = [await newUser(), await newUser()];
    expect(await joinWithInvite(db, once, first.id)).toEqual({
      status: 'joined',
      inventoryId: id,
      role: 'editor',
    });
    // A member already in uses nothing up, and keeps their role.
    expect(await joinWithInvite(db, once, first.id)).toMatchObject({ status: 'already-member' });
    expect(await joinWithInvite(db, once, second.id)).toEqual({ status: 'used-up' });

    // A link with two uses left admits two of five people trying at once.
    const twice = await link(2);
    const crowd = await Promise.all([1, 2, 3, 4, 5].map(() => newUser()));
    const joins = await Promise.all(crowd.map((user) => joinWithInvite(db, twice, user.id)));
    expect(joins.filter((outcome) => outcome.status === 'joined')).toHaveLength(2);
    expect(joins.filter((outcome) => outcome.status === 'used-up')).toHaveLength(3);

    const expiring = await link(null);
    await sql`update invite_links set expires_at = now() - interval '1 second'
      where token_hash = encode(sha256(convert_to(${expiring}, 'UTF8')), 'hex')`.execute(db);
    expect(await joinWithInvite(db, expiring, second.id)).toEqual({ status: 'expired' });

    const revoked = await link(null);
    const listed = await listInviteLinks(db, as(owner.id), id);
    if (listed.status !== 'found') throw new Error(listed.status);
    const newest = listed.links[0]!;
    expect(await revokeInviteLink(db, as(owner.id), id, newest.id)).toEqual({ status: 'revoked' });
    expect(await joinWithInvite(db, revoked, second.id)).toEqual({ status: 'revoked' });
    expect(await joinWithInvite(db, 'x'.repeat(43), second.id)).toEqual({ status: 'unknown' });
    expect(await joinWithInvite(db, '../../etc', second.id)).toEqual({ status: 'unknown' });

    // Nobody who was refused got in; the live links are the unlimited ones left.
    const members = (await roles(id)).map((row) => row.user_id);
    expect(members).not.toContain(second.id);
    expect(members).toHaveLength(1 + 1 + 2);
    const live = await listInviteLinks(db, as(owner.id), id);
    expect(live.status === 'found' && live.links.map((entry) => entry.maxUses)).toEqual([]);
    // Only owners make, see and revoke links.
    expect(
      await createInviteLink(db, as(first.id), id, { role: 'owner', days: 1, maxUses: null }),
    ).toEqual({ status: 'forbidden', role: 'editor' });
    expect(await listInviteLinks(db, as(first.id), id)).toEqual({
      status: 'forbidden',
      role: 'editor',
    });
  });
});
