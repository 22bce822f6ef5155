"""Bounds on numbers users give (options, settings, API parameters), kept in one place.

Free of imports on purpose: the command line reads these while it builds its options, before any
command runs, and `inventory --help` must stay fast.
"""

from __future__ import annotations

# Well inside int64 (SQLite's and DynamoDB's integers) and exactly representable as a double, so a client
# that reads the OpenAPI bounds as JSON numbers (JavaScript, schemathesis) gets them exactly.
LEVEL_BOUND = 10**18

# SQLite stores integers in 64 bits; a larger Python int cannot even be bound as a query parameter.
SQLITE_MAX_INTEGER = 2**63 - 1

# Warehouse names and item ids are keys: in the API's URLs, and on DynamoDB in key attributes, where
# the restock index's sort key holds both (warehouse, U+0001, item id) and may be at most 1,024 bytes.
MAX_NAME_CHARS = 200
MAX_NAME_BYTES = 500

# The highest restock threshold, from a thresholds file or as the default: a billion items is beyond any
# warehouse, and sums of levels stay far from int64.
MAX_THRESHOLD = 1_000_000_000
# A row's StockLevelChange, either way: ingest, the validator, `inventory sql` and the Athena view agree.
MAX_CHANGE = 1_000_000_000

# Deliveries of one event before it is dead-lettered, and the first retry's delay: beyond these the
# backoff arithmetic overflows long before it means anything.
MAX_DELIVERY_ATTEMPTS = 1000
MAX_RETRY_BASE_SECONDS = 300.0

# A century: far beyond any retention anyone means, and `now - days` stays a representable date.
MAX_ARCHIVE_DAYS = 36_500

# An hour per transaction is already absurd for the slow check; larger values overflow the lease's
# datetime arithmetic (and time.sleep) long before they mean anything.
MAX_CHECK_DELAY = 3600.0
