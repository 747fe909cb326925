// All shortest paths between two nodes over the network, through no hub ($hub_degree edges or more), as key lists.
MATCH (a:Node {_key: $from}), (b:Node {_key: $to})
MATCH p = allShortestPaths((a)-[:NET*..6]-(b))
WHERE length(p) <= $max_hops AND all(x IN nodes(p)[1..-1] WHERE COUNT { (x)-[:NET]-() } <= $hub_degree)
RETURN [x IN nodes(p) | x._key] AS path
