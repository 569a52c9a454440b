import type { EntityMetadata, EntityProperty } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createHash } from 'node:crypto';
import type { Client as PgClient } from 'pg';
import type { Orm } from './orm.js';
import { pgCode } from './pg-errors.js';

/**
 * Hand-written SQL for hot paths (the group commit of booking creates, the follow-up handlers), on the ORM's own
 * connections and inside its transaction, with the column names and types taken from the entities' metadata: a
 * property renamed or retyped in an entity changes these statements with it, so they cannot drift from what the ORM
 * writes elsewhere. Every such statement runs as a named prepared statement ({@link query}, {@link preparedRead}).
 */

type Schema = { meta: { className: string } };

/** The metadata of an entity schema, as the ORM discovered it. */
const metaOf = (em: EntityManager, schema: Schema): EntityMetadata => em.getMetadata().get(schema.meta.className);

function columnOf(meta: EntityMetadata, name: string): EntityProperty & { fieldNames: string[]; columnTypes: string[] } {
  const prop = meta.properties[name as keyof typeof meta.properties] as EntityProperty | undefined;
  if (!prop?.fieldNames?.length || prop.fieldNames.length !== 1 || !prop.columnTypes?.[0])
    throw new Error(`${meta.className}.${name} is not a single-column property`);
  return prop as EntityProperty & { fieldNames: string[]; columnTypes: string[] };
}

/** An SQL identifier in double quotes. */
export const quoteIdentifier = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;
const quote = quoteIdentifier;

/**
 * Runs one statement with `?` bindings sent as parameters (not inlined into the text; a JS array binds as one
 * Postgres array, e.g. `?::uuid[]`), in the entity manager's transaction when it has one. Returns the rows.
 *
 * The statement is prepared once per connection under a name taken from its text, so Postgres parses and plans it
 * once, not at every call: these statements are large (CTEs over JSON recordsets) and their parse + plan cost
 * Postgres more than running them (0.9–1.0 ms of 1.2–1.7 ms each for the group commit's two statements and the
 * event fan-out, from the server log at a light load). Their texts are fixed: what varies travels as parameters
 * (arrays, JSON). A text seen past the first {@link MAX_NAMED_TEXTS} runs unnamed, so a caller building texts per
 * call cannot grow the server's memory.
 */
export async function query<T>(em: EntityManager, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  // In a transaction, knex's transaction client hands back the transaction's own connection (and releasing it is a
  // no-op); otherwise a connection of the pool, released after the statement.
  const knex = (em.getTransactionContext() ?? em.getConnection().getKnex()) as unknown as { client: KnexClient };
  return (await runOn<T>(knex.client, statementOf(sql), [...bindings])).rows;
}

/** The part of knex's client that hands out the pg connections of the ORM's pool (or of a transaction). */
interface KnexClient {
  acquireConnection(): Promise<PgClient>;
  releaseConnection(c: PgClient): Promise<void>;
  emit(event: 'query', data: { method: 'raw'; sql: string; bindings: unknown[]; options: object }): boolean;
}

const MAX_NAMED_TEXTS = 256;
/** A statement to run: named (prepared once per connection), or unnamed (parsed and planned at every call). */
type Runnable = Statement | { name?: undefined; text: string };
const statements = new Map<string, Runnable>();

/** The statement of a `?`-bound text: `$n` parameters (knex's own conversion), named after a hash of the text. */
function statementOf(sql: string): Runnable {
  const known = statements.get(sql);
  if (known) return known;
  let n = 0;
  // As knex's positionBindings: a `?` after an odd number of backslashes is a literal question mark.
  const text = sql.replace(/(\\*)(\?)/g, (_, escapes: string) => (escapes.length % 2 ? '?' : `$${++n}`));
  if (statements.size >= MAX_NAMED_TEXTS) return { text };
  const statement = { name: `q_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`, text };
  statements.set(sql, statement);
  return statement;
}

/** A table's rows for {@link insertClaimed}: entity-shaped rows (property names), each with the member it belongs to. */
export interface OwnedRows {
  schema: Schema;
  rows: readonly { owner: number; row: object }[];
}

const OWNER = '_owner';

/**
 * `jsonb_to_recordset(?::jsonb) as r(<property> <column type>, …, "_owner" int)`: the rows of one entity, travelling
 * as one JSON parameter (Dates as ISO strings, JSON properties as they are) and coming apart in Postgres, typed by
 * the column types. Answers the recordset and the INSERT's column list; the properties are the first row's keys.
 */
function recordset(meta: EntityMetadata, props: readonly string[]) {
  const cols = props.map((p) => columnOf(meta, p));
  return {
    from: `jsonb_to_recordset(?::jsonb) as r(${cols.map((c, i) => `${quote(props[i]!)} ${c.columnTypes[0]}`).join(', ')}, ${quote(OWNER)} int)`,
    into: `${quote(meta.tableName)} (${cols.map((c) => quote(c.fieldNames[0]!)).join(', ')})`,
    select: props.map(quote).join(', '),
  };
}

const json = (rows: OwnedRows['rows']) => JSON.stringify(rows.map(({ owner, row }) => ({ ...row, [OWNER]: owner })));

/**
 * Inserts the rows of several entities for the members of a batch in ONE statement (one multi-row INSERT per table,
 * each a data-modifying CTE): one round trip, one implicit transaction, all or nothing. The `claims` go first, with
 * ON CONFLICT DO NOTHING: a member whose claim would break a unique or exclusion constraint (a slot already taken)
 * gets none of its rows in any table, and the others are written all the same. Postgres checks foreign keys at the
 * end of the statement, so a parent and its children (even a child listed first) go together. Any other violation
 * fails the statement with the driver's error (SQLSTATE `code`, `constraint`). Answers the members written.
 */
export async function insertClaimed(em: EntityManager, claims: OwnedRows, tables: readonly OwnedRows[]): Promise<Set<number>> {
  if (!claims.rows.length) return new Set();
  const meta = metaOf(em, claims.schema);
  const pk = meta.primaryKeys[0]!;
  const c = recordset(meta, Object.keys(claims.rows[0]!.row));
  const parts = [
    `"claims" as (select * from ${c.from})`,
    `"claimed" as (insert into ${c.into} select ${c.select} from "claims" on conflict do nothing returning ${quote(columnOf(meta, pk).fieldNames[0]!)} as "pk")`,
    `"written" as (select i.${quote(OWNER)} from "claims" i join "claimed" c on c."pk" = i.${quote(pk)})`,
  ];
  const bindings = [json(claims.rows)];
  for (const { schema, rows } of tables) {
    if (!rows.length) continue;
    const t = recordset(metaOf(em, schema), Object.keys(rows[0]!.row));
    parts.push(`${quote(`w${parts.length}`)} as (insert into ${t.into} select ${t.select} from ${t.from} where r.${quote(OWNER)} in (select ${quote(OWNER)} from "written"))`);
    bindings.push(json(rows));
  }
  const rows = await query<{ owner: number }>(em, `with ${parts.join(', ')} select ${quote(OWNER)} as "owner" from "written"`, bindings);
  return new Set(rows.map((r) => r.owner));
}

/**
 * `json_build_object('<property>', <alias>."<column>", …)` for the given properties of an entity: a row read by
 * hand comes back shaped like the entity (numbers, booleans and strings; timestamps as ISO strings).
 */
export function jsonObjectOf(em: EntityManager, schema: Schema, alias: string, props: readonly string[]): string {
  const meta = metaOf(em, schema);
  return `json_build_object(${props.map((p) => `'${p}', ${quote(alias)}.${quote(columnOf(meta, p).fieldNames[0]!)}`).join(', ')})`;
}

/** The table name of an entity schema, quoted. */
export const tableOf = (em: EntityManager, schema: Schema): string => quote(metaOf(em, schema).tableName);

/** The column of an entity's property, quoted. */
export const columnOfProp = (em: EntityManager, schema: Schema, prop: string): string => quote(columnOf(metaOf(em, schema), prop).fieldNames[0]!);

/** A fixed read of a hot path, run as a named prepared statement (see {@link preparedRead}). */
export interface Statement {
  name: string;
  text: string;
}

/**
 * Named statements are re-prepared under a new name after Postgres refused one because a migration changed the type
 * of a column it returns ('cached plan must not change result type', SQLSTATE 0A000): a statement prepared on a
 * pooled connection lives as long as the connection.
 */
let statementGeneration = 0;
const PLAN_RESULT_TYPE_CHANGED = '0A000';

/**
 * Runs a fixed read on a connection of the ORM's own pool (knex's, so the pool size, acquire timeout and the
 * disposal of broken connections are the ORM's), straight through the pg driver, as a named prepared statement.
 * MikroORM's `execute` (formatting the SQL, knex's raw query, runner and result transform) cost more of the API's
 * CPU than the round trip itself, and Postgres parsing and planning the query text each time cost it more than
 * running it (bench figure 2, one lookup per request: Postgres CPU per create 0.21 ms as text, 0.10 ms prepared).
 * Errors are the driver's, whose codes `isDatabaseUnavailable` reads (an outage is a 503).
 */
export async function preparedRead<R extends object>(orm: Orm, statement: Statement, values: unknown[]): Promise<R[]> {
  return (await runOn<R>(orm.em.getConnection().getKnex().client as KnexClient, statement, values)).rows;
}

/** Runs a statement on a connection of `client` (named: prepared on first use), retrying once after a migration. */
async function runOn<R>(client: KnexClient, statement: Runnable, values: unknown[]) {
  const connection = await client.acquireConnection();
  // Announced as knex announces its own queries, so whoever listens to the ORM's `query` events sees these too.
  client.emit('query', { method: 'raw', sql: statement.text, bindings: values, options: {} });
  const run = () =>
    connection.query<R & object>(statement.name ? { name: `${statement.name}_${statementGeneration}`, text: statement.text, values } : { text: statement.text, values });
  try {
    try {
      return await run();
    } catch (e) {
      if (!statement.name || pgCode(e) !== PLAN_RESULT_TYPE_CHANGED) throw e;
      statementGeneration++;
      return await run();
    }
  } finally {
    void client.releaseConnection(connection);
  }
}
