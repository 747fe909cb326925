// How many network edges a node has (0 when it has none or does not exist).
OPTIONAL MATCH (n:Node {_key: $key})
RETURN CASE WHEN n IS NULL THEN 0 ELSE COUNT { (n)-[:NET]-() } END AS degree
