"""The job's result files in --output: one name each, shared by the graph, the launcher's
own writes (empty results, a rerun with nothing left) and the summary."""

METADATA_FILE = "metadata.jsonl"
METADATA_PARQUET = "metadata.parquet"
SEQUENCES_FILE = "sequences.jsonl"
ERRORS_FILE = "errors.jsonl"
