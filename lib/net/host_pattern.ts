/**
 * Host name patterns (pure), one matcher for every place that chooses by name: server blocks by
 * Host (`hosts:`), certificates by SNI, admin names. "name" matches itself; "*.example.com"
 * matches "a.example.com" and "a.b.example.com", never "example.com". Case-insensitive.
 */
export function matchesHostPattern(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (!p.startsWith("*.")) return p === n;
  return n.length > p.length - 1 && n.endsWith(p.slice(1));
}
