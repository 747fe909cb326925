"""What the tests share that is not a fixture: the API test city (``api_city``), hand-built claim
scenes with known answers (``scenes``) and contract files written and rejects read (``csv_files``)."""
