import { Migration } from '@mikro-orm/migrations';

const MONEY = ['base_price', 'discount_amount', 'tax_amount', 'total_price'];
const TABLES = ['bookings', 'checkouts'];

/**
 * Amounts become `bigint`: an `integer` stopped at 2^31 − 1 minor units, which a booking or a checkout in a currency
 * without minor units (VND, IDR, KRW) passes, and such a job then failed at its INSERT. Rewrites both tables under an
 * exclusive lock (one statement per table, the CHECKs kept); `down` fails if an amount no longer fits.
 */
export class Migration20261208000000 extends Migration {
  override async up(): Promise<void> {
    for (const table of TABLES)
      this.addSql(`alter table "${table}" ${MONEY.map((c) => `alter column "${c}" type bigint`).join(', ')};`);
  }

  override async down(): Promise<void> {
    for (const table of TABLES)
      this.addSql(`alter table "${table}" ${MONEY.map((c) => `alter column "${c}" type int`).join(', ')};`);
  }
}
