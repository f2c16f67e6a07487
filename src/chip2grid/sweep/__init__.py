"""Many scenarios at once: grid or random sweeps on local processes or Ray, stored in DuckDB."""
