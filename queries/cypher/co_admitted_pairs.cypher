// Pairs of persons admitted to one institution on the same day on $min_times or more separate days.
MATCH (i:Node {_key: 'institution:' + $institution_id})<-[:AT_INSTITUTION]-(s:Settlement {kind: 'inpatient'})
WITH date(s.start_time) AS day, collect(DISTINCT s.person_id) AS persons
UNWIND persons AS a
UNWIND persons AS b
WITH a, b, day WHERE a < b
WITH a, b, count(DISTINCT day) AS times, collect(DISTINCT toString(day)) AS days
WHERE times >= $min_times
RETURN a, b, times, days ORDER BY times DESC, a, b
