// Each node among $keys with network edges: its degree, its name, and up to $limit edges (most claims first), each with the degree and label of the node at the other end.
// Ties are broken as the embedded index breaks them (the other end's key, the relationship's place in $rel_order, incoming first), so that both stores keep the same edges under a limit.
UNWIND $keys AS k
MATCH (n:Node {_key: k})
WITH k, n, COUNT { (n)-[:NET]-() } AS degree
WHERE degree > 0
CALL (n) {
  MATCH (n)-[r:NET]-(m)
  WITH n, r, m ORDER BY r.claims DESC, m._key, $rel_order[r.type], startNode(r) = n LIMIT $limit
  RETURN collect({outgoing: startNode(r) = n, type: r.type, other: m._key, claims: r.claims, fund: r.fund,
                  first: r.first, last: r.last, degree: COUNT { (m)-[:NET]-() }, label: m.name}) AS edges
}
RETURN k, degree, n.name AS label, edges
