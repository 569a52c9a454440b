import type { EntityMetadata, EntityProperty } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Client as PgClient } from 'pg';
import type { Orm } from './orm.js';
import { pgCode } from './pg-errors.js';

/**
 * Hand-written SQL for hot paths (the group commit of booking creates), on the ORM's own connection and inside its
 * transaction, with the column names and types taken from the entities' metadata: a property renamed or retyped in
 * an entity changes these statements with it, so they cannot drift from what the ORM writes elsewhere. And the
 * fixed reads of the API's create path, as named prepared statements ({@link preparedRead}).
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

const quote = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

/**
 * Runs one statement with `?` bindings sent as parameters (not inlined into the text; a JS array binds as one
 * Postgres array, e.g. `?::uuid[]`), in the entity manager's transaction when it has one. Returns the rows.
 */
export async function query<T>(em: EntityManager, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  const q = em.getConnection().getKnex().raw(sql, bindings as never);
  const trx = em.getTransactionContext();
  if (trx) q.transacting(trx);
  const res = (await q) as { rows: T[] };
  return res.rows;
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
  const knexClient = orm.em.getConnection().getKnex().client as { acquireConnection(): Promise<PgClient>; releaseConnection(c: PgClient): Promise<void> };
  const client = await knexClient.acquireConnection();
  const run = () => client.query<R>({ name: `${statement.name}_${statementGeneration}`, text: statement.text, values });
  try {
    try {
      return (await run()).rows;
    } catch (e) {
      if (pgCode(e) !== PLAN_RESULT_TYPE_CHANGED) throw e;
      statementGeneration++;
      return (await run()).rows;
    }
  } finally {
    void knexClient.releaseConnection(client);
  }
}
