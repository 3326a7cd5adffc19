// The selected view lives in the URL hash, so views can be shared:
// "#/" is the aggregate view, "#/worker/<id>" one worker (id URL-encoded).

/** parseRoute reads "#/worker/<id>"; anything else is the aggregate view (null). */
export function parseRoute(hash: string): string | null {
  const m = /^#\/worker\/(.+)$/.exec(hash);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]) || null;
  } catch {
    return null;
  }
}

/** routeHash is the hash for a view: "#/" or "#/worker/<id>". */
export function routeHash(id: string | null): string {
  return id === null ? "#/" : `#/worker/${encodeURIComponent(id)}`;
}
