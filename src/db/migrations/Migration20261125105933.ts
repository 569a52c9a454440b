import { Migration } from '@mikro-orm/migrations';

export class Migration20261125105933 extends Migration {

  override async up(): Promise<void> {
    // gist over (uuid =, tstzrange &&) needs btree_gist for the equality half.
    this.addSql(`create extension if not exists btree_gist;`);
    this.addSql(`create table "outbox" ("id" uuid not null, "event_type" varchar(64) not null, "aggregate_id" uuid not null, "payload" jsonb not null, "command_id" varchar(128) null, "created_at" timestamptz not null, "published_at" timestamptz null, "attempts" int not null default 0, constraint "outbox_pkey" primary key ("id"));`);

    this.addSql(`create table "processed_commands" ("id" varchar(128) not null, "name" varchar(64) not null, "user_id" uuid null, "fingerprint" varchar(64) null, "outcome" text check ("outcome" in ('completed', 'failed')) not null, "result" jsonb null, "error" jsonb null, "requested_at" timestamptz not null, "processed_at" timestamptz not null, constraint "processed_commands_pkey" primary key ("id"));`);
    this.addSql(`create index "processed_commands_user_id_index" on "processed_commands" ("user_id");`);

    this.addSql(`create table "users" ("id" uuid not null, "email" varchar(320) not null, "name" varchar(200) not null, "role" text check ("role" in ('member', 'staff', 'admin')) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "users_pkey" primary key ("id"));`);

    this.addSql(`create table "workspaces" ("id" uuid not null, "name" varchar(200) not null, "timezone" varchar(64) not null, "currency" varchar(3) not null, "tax_rate_bps" int not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "workspaces_pkey" primary key ("id"));`);

    this.addSql(`create table "spaces" ("id" uuid not null, "workspace_id" uuid not null, "name" varchar(200) not null, "kind" text check ("kind" in ('desk', 'office', 'meeting_room')) not null, "capacity" int not null, "hourly_rate" int not null, "daily_rate" int not null, "monthly_rate" int not null, "active" boolean not null default true, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "spaces_pkey" primary key ("id"));`);
    this.addSql(`create index "spaces_workspace_id_index" on "spaces" ("workspace_id");`);

    this.addSql(`create table "bookings" ("id" uuid not null, "workspace_id" uuid not null, "space_id" uuid not null, "user_id" uuid not null, "booking_type" text check ("booking_type" in ('hourly', 'daily', 'monthly')) not null, "starts_at" timestamptz not null, "ends_at" timestamptz not null, "status" text check ("status" in ('pending', 'confirmed', 'active', 'completed', 'cancelled')) not null, "attendees" int not null default 1, "notes" text null, "base_price" int not null, "discount_amount" int not null default 0, "tax_amount" int not null, "total_price" int not null, "currency" varchar(3) not null, "checked_in_at" timestamptz null, "checked_out_at" timestamptz null, "cancelled_at" timestamptz null, "cancellation_reason" varchar(500) null, "no_show" boolean not null default false, "deleted_at" timestamptz null, "version" int not null default 1, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "bookings_pkey" primary key ("id"));`);
    this.addSql(`create index "bookings_workspace_id_index" on "bookings" ("workspace_id");`);
    this.addSql(`create index "bookings_user_id_created_at_index" on "bookings" ("user_id", "created_at");`);
    this.addSql(`create index "bookings_space_id_starts_at_index" on "bookings" ("space_id", "starts_at");`);
    this.addSql(`create index "bookings_status_ends_at_index" on "bookings" ("status", "ends_at");`);

    this.addSql(`create table "reservations" ("id" uuid not null, "space_id" uuid not null, "kind" text check ("kind" in ('booking', 'hold')) not null, "booking_id" uuid null, "starts_at" timestamptz not null, "ends_at" timestamptz not null, "expires_at" timestamptz null, "created_at" timestamptz not null, constraint "reservations_pkey" primary key ("id"));`);
    this.addSql(`alter table "reservations" add constraint "reservations_booking_id_unique" unique ("booking_id");`);

    this.addSql(`create table "booking_events" ("id" uuid not null, "booking_id" uuid not null, "action" varchar(32) not null, "from_status" varchar(16) null, "to_status" varchar(16) not null, "actor_id" uuid null, "command_id" varchar(128) null, "at" timestamptz not null, constraint "booking_events_pkey" primary key ("id"));`);
    this.addSql(`create index "booking_events_booking_id_index" on "booking_events" ("booking_id");`);

    this.addSql(`alter table "spaces" add constraint "spaces_workspace_id_foreign" foreign key ("workspace_id") references "workspaces" ("id") on update cascade;`);

    this.addSql(`alter table "bookings" add constraint "bookings_workspace_id_foreign" foreign key ("workspace_id") references "workspaces" ("id") on update cascade;`);
    this.addSql(`alter table "bookings" add constraint "bookings_space_id_foreign" foreign key ("space_id") references "spaces" ("id") on update cascade;`);
    this.addSql(`alter table "bookings" add constraint "bookings_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade;`);

    this.addSql(`alter table "reservations" add constraint "reservations_space_id_foreign" foreign key ("space_id") references "spaces" ("id") on update cascade;`);
    this.addSql(`alter table "reservations" add constraint "reservations_booking_id_foreign" foreign key ("booking_id") references "bookings" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "booking_events" add constraint "booking_events_booking_id_foreign" foreign key ("booking_id") references "bookings" ("id") on update cascade;`);

    // Invariant 1: no two claims on one space overlap in time, whatever the application does. Half-open ranges,
    // so back-to-back claims (end == next start) are allowed.
    this.addSql(`alter table "reservations" add constraint "reservations_no_overlap" exclude using gist ("space_id" with =, tstzrange("starts_at", "ends_at", '[)') with &&);`);
    this.addSql(`alter table "reservations" add constraint "reservations_time_order" check ("ends_at" > "starts_at");`);
    this.addSql(`alter table "bookings" add constraint "bookings_time_order" check ("ends_at" > "starts_at");`);
    this.addSql(`alter table "bookings" add constraint "bookings_money_non_negative" check ("base_price" >= 0 and "discount_amount" >= 0 and "tax_amount" >= 0 and "total_price" >= 0);`);
    this.addSql(`alter table "bookings" add constraint "bookings_attendees_positive" check ("attendees" >= 1);`);
    this.addSql(`alter table "spaces" add constraint "spaces_capacity_positive" check ("capacity" >= 1);`);
    this.addSql(`alter table "spaces" add constraint "spaces_rates_non_negative" check ("hourly_rate" >= 0 and "daily_rate" >= 0 and "monthly_rate" >= 0);`);
    this.addSql(`alter table "workspaces" add constraint "workspaces_tax_rate_range" check ("tax_rate_bps" between 0 and 10000);`);

    // The expiry sweep looks for pending bookings by start; the relay for unpublished outbox rows.
    this.addSql(`create index "bookings_status_starts_at_index" on "bookings" ("status", "starts_at");`);
    this.addSql(`create index "outbox_unpublished_index" on "outbox" ("created_at") where "published_at" is null;`);
    this.addSql(`create index "reservations_expires_at_index" on "reservations" ("expires_at") where "expires_at" is not null;`);
  }

  override async down(): Promise<void> {
    for (const table of ['booking_events', 'reservations', 'bookings', 'spaces', 'workspaces', 'users', 'processed_commands', 'outbox']) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }

}
