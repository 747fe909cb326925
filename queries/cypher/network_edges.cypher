// A node's network edges, most claims first, with the degree and label of the node at the other end.
MATCH (n:Node {_key: $key})-[r:NET]-(m)
WITH n, r, m ORDER BY r.claims DESC, m._key LIMIT $limit
RETURN startNode(r) = n AS outgoing, r.type AS type, m._key AS other, r.claims AS claims, r.fund AS fund,
       r.first AS first, r.last AS last, COUNT { (m)-[:NET]-() } AS degree, m.name AS label
