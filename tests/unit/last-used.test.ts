import { describe, expect, it } from 'vitest';
import { lastUsedOf, type Inventory } from '../../src/lib/server/inventories/inventories.ts';

const inventory = (id: number, marks: Partial<Pick<Inventory, 'personal' | 'lastUsed'>> = {}) =>
  ({
    id,
    name: `Inventory ${id}`,
    role: 'editor',
    personal: false,
    itemCount: 0,
    lastUsed: false,
    ...marks,
  }) satisfies Inventory;

describe('the inventory / opens (lastUsedOf)', () => {
  it('is the one used last, wherever it is in the list', () => {
    const list = [inventory(1, { personal: true }), inventory(7), inventory(3, { lastUsed: true })];
    expect(lastUsedOf(list)?.id).toBe(3);
  });

  it('is the user’s own when they are no longer in the one used last', () => {
    expect(lastUsedOf([inventory(2), inventory(9, { personal: true }), inventory(4)])?.id).toBe(9);
  });

  it('is the oldest they are in when they left their own too', () => {
    expect(lastUsedOf([inventory(8), inventory(5), inventory(6)])?.id).toBe(5);
  });

  it('is none when they are in none', () => {
    expect(lastUsedOf([])).toBeUndefined();
  });
});
