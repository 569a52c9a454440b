/**
 * Which methods a request path has routes for, read off the app's own route table: what tells a wrong method on a
 * known path (405 with `Allow`) from a path the app does not know (404). Middleware entries (method ALL) serve every
 * path and count for none; a path answered on GET is also answered on HEAD (Hono serves HEAD from the GET route).
 */
export function allowedMethods(routes: readonly { method: string; path: string }[]): (path: string) => string[] {
  const byPath = new Map<string, Set<string>>();
  for (const { method, path } of routes) {
    if (method === 'ALL') continue;
    let methods = byPath.get(path);
    if (!methods) byPath.set(path, (methods = new Set()));
    methods.add(method);
    if (method === 'GET') methods.add('HEAD');
  }
  const matchers = [...byPath].map(([path, methods]) => ({ pattern: pathPattern(path), methods }));
  return (path) => {
    const allowed = new Set<string>();
    for (const m of matchers) if (m.pattern.test(path)) for (const method of m.methods) allowed.add(method);
    return [...allowed].sort();
  };
}

/** `/spaces/:id/availability` → a pattern where each `:param` is one path segment; a trailing slash matches too. */
function pathPattern(path: string): RegExp {
  const segments = path.split('/').map((s) => (s.startsWith(':') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${segments.join('/')}/?$`);
}
