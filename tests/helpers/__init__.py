"""What the tests share that is not a fixture: the API test city (``api_city``), hand-built claim
scenes with known answers (``scenes``), contract files written and rejects read (``csv_files``) and
the command line's error line read (``cli_error``)."""
