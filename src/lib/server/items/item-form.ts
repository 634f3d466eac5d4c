import { fieldErrors } from '../../contracts/field-errors.ts';
import { itemFormInput, itemInputSchema } from '../../contracts/item-input.ts';
import { formPlaces, itemPlacesFormSchema } from '../../contracts/places.ts';
import type { NewItem, PlaceRefusal } from './items.ts';

/**
 * The item form as the add and edit pages post it: the item's own fields (the schema the
 * add-item island shares) and where it is kept, its tags and its minimum (`location`,
 * `tags` comma-separated, `min_amount`). Either the item, or every field's errors at once.
 */
export function parseItemForm(
  fields: Record<string, string>,
): { success: true; item: NewItem } | { success: false; errors: Record<string, string[]> } {
  const item = itemInputSchema.safeParse(itemFormInput(fields));
  const places = itemPlacesFormSchema.safeParse({
    location: fields.location,
    tags: fields.tags,
    min_amount: fields.min_amount,
  });
  if (item.success && places.success) {
    return { success: true, item: { ...item.data, ...formPlaces(places.data) } };
  }
  return {
    success: false,
    errors: {
      ...(item.success ? {} : fieldErrors(item.error)),
      ...(places.success ? {} : fieldErrors(places.error)),
    },
  };
}

/** A refused location or tag list, as the error of the form field that chose it. */
export const placeFieldErrors = ({ field, message }: PlaceRefusal): Record<string, string[]> => ({
  [field === 'location_id' ? 'location' : 'tags']: [message],
});

/** What the form shows for an item: its fields as text, as a form posts them. */
export function itemFormValues(item: {
  name: string;
  amount: number;
  description: string;
  locationId: number | null;
  tags: string[];
  minAmount: number | null;
}): Record<string, string> {
  return {
    name: item.name,
    amount: String(item.amount),
    description: item.description,
    location: item.locationId === null ? '' : String(item.locationId),
    tags: item.tags.join(', '),
    min_amount: item.minAmount === null ? '' : String(item.minAmount),
  };
}
