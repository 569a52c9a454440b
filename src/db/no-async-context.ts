import { UnitOfWork, Utils } from '@mikro-orm/core';

/**
 * Keeps MikroORM from starting an AsyncLocalStorage on our paths. On Node 20 the first `run` of any AsyncLocalStorage
 * installs promise hooks for the rest of the process's life, and every promise of every request and job pays for
 * them from then on: measured, about a fifth of the API's CPU per request (cached reads and creates alike) and as
 * much of the worker's. MikroORM 6.6 starts one in three places; we use none of them:
 * - `em.transactional()` (TransactionContext): we use `inTransaction` (./orm.ts) instead;
 * - `em.findAndCount()` (RawQueryFragment.run, which only defers dropping raw SQL fragments shared by the two
 *   queries; we pass none): we use `findAndCount` (./orm.ts) instead;
 * - every flush (`UnitOfWork.commit` runs it inside `insideFlush`, only to refuse a flush started from one of the
 *   flush's own lifecycle hooks, and to skip auto-flushes from inside one). That one is replaced below by the same
 *   code without the storage: a flush requested while one is running on the same EntityManager waits for it (the
 *   library's behaviour for a concurrent flush), and no auto-flush runs while a flush is working on it. We register
 *   no flush hooks, and each fork serves one job or request, so neither difference can be met here.
 * The replaced methods are copied from the version below; any other version refuses to start (re-check the copy).
 */
const PATCHED_FOR = '6.6.16';

type Uow = {
  working: boolean;
  flushQueue: (() => Promise<void>)[];
  doCommit(): Promise<void>;
  postCommitCleanup(): void;
};

let applied = false;

export function keepMikroOrmOffAsyncContext(): void {
  if (applied) return;
  const version = Utils.getORMVersion();
  if (version !== PATCHED_FOR)
    throw new Error(`src/db/no-async-context.ts patches @mikro-orm/core ${PATCHED_FOR}, found ${version}: compare UnitOfWork.commit and shouldAutoFlush with the copy`);
  const proto = UnitOfWork.prototype as unknown as Uow & { commit(): Promise<void>; shouldAutoFlush(meta: unknown): boolean };
  const original = { shouldAutoFlush: proto.shouldAutoFlush };

  proto.commit = async function (this: Uow) {
    if (this.working) {
      return new Promise<void>((resolve, reject) => {
        this.flushQueue.push(() => this.doCommit().then(resolve, reject));
      });
    }
    try {
      this.working = true;
      await this.doCommit();
      while (this.flushQueue.length) await this.flushQueue.shift()!();
    } finally {
      this.postCommitCleanup();
      this.working = false;
    }
  };
  // The original answers false inside a flush (told by the storage), else decides from the queued actions.
  proto.shouldAutoFlush = function (this: Uow, meta: unknown) {
    if (this.working) return false;
    return original.shouldAutoFlush.call(this, meta);
  };
  applied = true;
}
