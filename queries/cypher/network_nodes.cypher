// Degree and label of each known node among $keys (nodes without network edges are left out).
UNWIND $keys AS k
MATCH (n:Node {_key: k})
WITH k, n, COUNT { (n)-[:NET]-() } AS degree
WHERE degree > 0
RETURN k, degree, n.name AS label
