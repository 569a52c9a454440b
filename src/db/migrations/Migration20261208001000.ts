import { Migration } from '@mikro-orm/migrations';

/**
 * `bookings.granted_discount`: what a booking's checkout granted, which a move re-prices with (capped at the new base
 * price). Re-pricing from the current discount made a cap permanent: a booking moved to a shorter slot and back kept
 * the smaller discount. Filled from the checkouts' lines, which recorded each booking's discount as granted.
 */
export class Migration20261208001000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "bookings" add column "granted_discount" bigint not null default 0;`);
    this.addSql(`update "bookings" b set "granted_discount" = (l ->> 'discountAmount')::bigint
      from "checkouts" c cross join lateral jsonb_array_elements(c."items") l
      where l ->> 'bookingId' = b."id"::text and (l ->> 'discountAmount')::bigint > 0;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "bookings" drop column "granted_discount";`);
  }
}
