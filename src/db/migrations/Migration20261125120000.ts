import { Migration } from '@mikro-orm/migrations';

/**
 * The inbox remembers what a command's commit touched, so a redelivered command (its worker died after commit,
 * before its cache eviction or outbox publishing) can redo that after-commit work before it is reported completed.
 */
export class Migration20261125120000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "processed_commands" add column "effects" jsonb null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "processed_commands" drop column "effects";`);
  }
}
