// Persons behind a device: holders of e-vouchers on it, and persons whose cards it scanned (with claim counts).
MATCH (d:Node {_key: 'device:' + $device_id})
CALL (d) {
  MATCH (d)<-[:ON_DEVICE]-(:Card)-[:HELD_BY]->(p:Person)
  RETURN p.person_id AS person, 'card_on_device' AS how, 0 AS claims
  UNION
  MATCH (d)<-[:SCANNED_ON]-(s:Settlement)
  RETURN s.person_id AS person, 'scanned' AS how, count(s) AS claims
}
RETURN person, how, claims ORDER BY person, how
