import { Migration } from '@mikro-orm/migrations';

/** Follow-ups: in-app notifications, email sends, webhook endpoints and deliveries; outbox pruning index. */
export class Migration20261125112731 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "notifications" ("id" uuid not null, "user_id" uuid not null, "type" varchar(64) not null, "title" varchar(200) not null, "body" text not null, "data" jsonb not null, "outbox_id" uuid not null, "read_at" timestamptz null, "created_at" timestamptz not null, constraint "notifications_pkey" primary key ("id"));`);
    // One notification per event: a replayed event collides here and changes nothing.
    this.addSql(`alter table "notifications" add constraint "notifications_outbox_id_unique" unique ("outbox_id");`);
    this.addSql(`create index "notifications_user_id_created_at_index" on "notifications" ("user_id", "created_at");`);
    this.addSql(`create index "notifications_user_id_unread_index" on "notifications" ("user_id", "created_at") where "read_at" is null;`);

    this.addSql(`create table "email_sends" ("id" uuid not null, "outbox_id" uuid not null, "recipient" varchar(320) not null, "event_type" varchar(64) not null, "status" text check ("status" in ('sending', 'sent', 'failed')) not null, "attempts" int not null default 0, "message_id" varchar(998) null, "last_error" text null, "claimed_at" timestamptz null, "sent_at" timestamptz null, "created_at" timestamptz not null, constraint "email_sends_pkey" primary key ("id"));`);
    this.addSql(`alter table "email_sends" add constraint "email_sends_outbox_id_recipient_unique" unique ("outbox_id", "recipient");`);

    this.addSql(`create table "webhook_endpoints" ("id" uuid not null, "workspace_id" uuid not null, "url" varchar(2048) not null, "secret" varchar(256) not null, "event_types" jsonb not null, "active" boolean not null default true, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "webhook_endpoints_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_endpoints_workspace_id_index" on "webhook_endpoints" ("workspace_id");`);

    this.addSql(`create table "webhook_deliveries" ("id" uuid not null, "endpoint_id" uuid not null, "outbox_id" uuid not null, "event_type" varchar(64) not null, "status" text check ("status" in ('pending', 'retrying', 'delivered', 'failed')) not null, "status_code" int null, "attempts" int not null default 0, "last_error" text null, "delivered_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "webhook_deliveries_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_deliveries_endpoint_id_created_at_index" on "webhook_deliveries" ("endpoint_id", "created_at");`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_endpoint_id_outbox_id_unique" unique ("endpoint_id", "outbox_id");`);

    this.addSql(`alter table "notifications" add constraint "notifications_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "webhook_endpoints" add constraint "webhook_endpoints_workspace_id_foreign" foreign key ("workspace_id") references "workspaces" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_endpoint_id_foreign" foreign key ("endpoint_id") references "webhook_endpoints" ("id") on update cascade on delete cascade;`);

    // Pruning deletes published rows past their retention, oldest first.
    this.addSql(`create index "outbox_published_at_index" on "outbox" ("published_at") where "published_at" is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "outbox_published_at_index";`);
    for (const table of ['webhook_deliveries', 'webhook_endpoints', 'email_sends', 'notifications']) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }

}
