"""Everything the launcher says to storage: the output lease, S3 clients, start-up cleanup,
output checks and the empty result files."""
