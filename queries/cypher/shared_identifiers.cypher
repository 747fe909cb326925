// Phones, devices, addresses and accounts a person uses that other persons use too, and who those persons are.
MATCH (p:Node {_key: 'person:' + $person_id})-[:NET]-(i)-[:NET]-(other:Person)
WHERE (i:Phone OR i:Device OR i:Address OR i:BankAccount) AND other <> p
RETURN i._key AS identifier, collect(DISTINCT other.person_id) AS persons
ORDER BY size(persons) DESC, identifier
