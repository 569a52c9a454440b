import { Migration } from '@mikro-orm/migrations';

/** Carts and their holds' items, checkouts, promo codes, guests and booking reviews. */
export class Migration20261125113349 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "carts" ("id" uuid not null, "user_id" uuid not null, "status" text check ("status" in ('active', 'checked_out', 'abandoned')) not null, "last_activity_at" timestamptz not null, "checked_out_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "carts_pkey" primary key ("id"));`);

    this.addSql(`create table "promo_codes" ("id" uuid not null, "workspace_id" uuid not null, "code" varchar(32) not null, "discount_type" text check ("discount_type" in ('percent', 'fixed')) not null, "discount_value" int not null, "valid_from" timestamptz null, "valid_to" timestamptz null, "max_uses" int null, "used_count" int not null default 0, "active" boolean not null default true, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "promo_codes_pkey" primary key ("id"));`);
    this.addSql(`alter table "promo_codes" add constraint "promo_codes_workspace_id_code_unique" unique ("workspace_id", "code");`);

    this.addSql(`create table "checkouts" ("id" uuid not null, "cart_id" uuid not null, "user_id" uuid not null, "workspace_id" uuid not null, "command_id" varchar(128) not null, "items" jsonb not null, "base_price" int not null, "discount_amount" int not null, "tax_amount" int not null, "total_price" int not null, "currency" varchar(3) not null, "promo_code_id" uuid null, "payment_method" varchar(32) not null, "payment_reference" varchar(128) not null, "payment_status" varchar(32) not null, "created_at" timestamptz not null, constraint "checkouts_pkey" primary key ("id"));`);
    this.addSql(`alter table "checkouts" add constraint "checkouts_cart_id_unique" unique ("cart_id");`);
    this.addSql(`create index "checkouts_user_id_index" on "checkouts" ("user_id");`);

    this.addSql(`create table "cart_items" ("id" uuid not null, "cart_id" uuid not null, "workspace_id" uuid not null, "space_id" uuid not null, "reservation_id" uuid null, "booking_id" uuid null, "booking_type" text check ("booking_type" in ('hourly', 'daily', 'monthly')) not null, "starts_at" timestamptz not null, "ends_at" timestamptz not null, "attendees" int not null default 1, "notes" text null, "created_at" timestamptz not null, constraint "cart_items_pkey" primary key ("id"));`);
    this.addSql(`create index "cart_items_cart_id_index" on "cart_items" ("cart_id");`);
    this.addSql(`alter table "cart_items" add constraint "cart_items_reservation_id_unique" unique ("reservation_id");`);

    this.addSql(`create table "guests" ("id" uuid not null, "booking_id" uuid null, "cart_item_id" uuid null, "position" int not null, "name" varchar(200) not null, "email" varchar(320) not null, "created_at" timestamptz not null, constraint "guests_pkey" primary key ("id"));`);
    this.addSql(`create index "guests_booking_id_index" on "guests" ("booking_id");`);
    this.addSql(`create index "guests_cart_item_id_index" on "guests" ("cart_item_id");`);

    this.addSql(`create table "booking_reviews" ("id" uuid not null, "booking_id" uuid not null, "user_id" uuid not null, "workspace_id" uuid not null, "space_id" uuid not null, "rating" int not null, "comment" text null, "command_id" varchar(128) null, "created_at" timestamptz not null, constraint "booking_reviews_pkey" primary key ("id"));`);
    this.addSql(`alter table "booking_reviews" add constraint "booking_reviews_booking_id_unique" unique ("booking_id");`);
    this.addSql(`create index "booking_reviews_space_id_created_at_index" on "booking_reviews" ("space_id", "created_at");`);

    this.addSql(`alter table "carts" add constraint "carts_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "promo_codes" add constraint "promo_codes_workspace_id_foreign" foreign key ("workspace_id") references "workspaces" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "checkouts" add constraint "checkouts_cart_id_foreign" foreign key ("cart_id") references "carts" ("id") on update cascade;`);
    this.addSql(`alter table "checkouts" add constraint "checkouts_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade;`);
    this.addSql(`alter table "checkouts" add constraint "checkouts_workspace_id_foreign" foreign key ("workspace_id") references "workspaces" ("id") on update cascade;`);
    this.addSql(`alter table "checkouts" add constraint "checkouts_promo_code_id_foreign" foreign key ("promo_code_id") references "promo_codes" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "cart_items" add constraint "cart_items_cart_id_foreign" foreign key ("cart_id") references "carts" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "cart_items" add constraint "cart_items_workspace_id_foreign" foreign key ("workspace_id") references "workspaces" ("id") on update cascade;`);
    this.addSql(`alter table "cart_items" add constraint "cart_items_space_id_foreign" foreign key ("space_id") references "spaces" ("id") on update cascade;`);
    this.addSql(`alter table "cart_items" add constraint "cart_items_reservation_id_foreign" foreign key ("reservation_id") references "reservations" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "cart_items" add constraint "cart_items_booking_id_foreign" foreign key ("booking_id") references "bookings" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "guests" add constraint "guests_booking_id_foreign" foreign key ("booking_id") references "bookings" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "guests" add constraint "guests_cart_item_id_foreign" foreign key ("cart_item_id") references "cart_items" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "booking_reviews" add constraint "booking_reviews_booking_id_foreign" foreign key ("booking_id") references "bookings" ("id") on update cascade;`);
    this.addSql(`alter table "booking_reviews" add constraint "booking_reviews_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade;`);
    this.addSql(`alter table "booking_reviews" add constraint "booking_reviews_workspace_id_foreign" foreign key ("workspace_id") references "workspaces" ("id") on update cascade;`);
    this.addSql(`alter table "booking_reviews" add constraint "booking_reviews_space_id_foreign" foreign key ("space_id") references "spaces" ("id") on update cascade;`);

    // One active cart per user: two concurrent first add-items of one user end up in the same cart.
    this.addSql(`create unique index "carts_one_active_per_user" on "carts" ("user_id") where "status" = 'active';`);
    // The abandonment sweep looks for active carts by last activity.
    this.addSql(`create index "carts_active_last_activity_index" on "carts" ("last_activity_at") where "status" = 'active';`);

    this.addSql(`alter table "cart_items" add constraint "cart_items_time_order" check ("ends_at" > "starts_at");`);
    this.addSql(`alter table "cart_items" add constraint "cart_items_attendees_positive" check ("attendees" >= 1);`);

    // A guest belongs to a booking or (until checkout moves it) to a cart item, never both or neither.
    this.addSql(`alter table "guests" add constraint "guests_one_owner" check (num_nonnulls("booking_id", "cart_item_id") = 1);`);

    // Promo codes: never used more than max_uses (the checkout's guarded UPDATE relies on it), sane values.
    this.addSql(`alter table "promo_codes" add constraint "promo_codes_uses_within_max" check ("used_count" >= 0 and ("max_uses" is null or "used_count" <= "max_uses"));`);
    this.addSql(`alter table "promo_codes" add constraint "promo_codes_max_uses_positive" check ("max_uses" is null or "max_uses" >= 1);`);
    this.addSql(`alter table "promo_codes" add constraint "promo_codes_value_range" check (("discount_type" = 'percent' and "discount_value" between 1 and 100) or ("discount_type" = 'fixed' and "discount_value" >= 1));`);
    this.addSql(`alter table "promo_codes" add constraint "promo_codes_window_order" check ("valid_from" is null or "valid_to" is null or "valid_to" > "valid_from");`);
    this.addSql(`alter table "promo_codes" add constraint "promo_codes_code_upper" check ("code" = upper("code"));`);

    this.addSql(`alter table "checkouts" add constraint "checkouts_money_non_negative" check ("base_price" >= 0 and "discount_amount" >= 0 and "discount_amount" <= "base_price" and "tax_amount" >= 0 and "total_price" >= 0);`);

    this.addSql(`alter table "booking_reviews" add constraint "booking_reviews_rating_range" check ("rating" between 1 and 5);`);
  }

  override async down(): Promise<void> {
    for (const table of ['booking_reviews', 'guests', 'checkouts', 'cart_items', 'promo_codes', 'carts']) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }

}
