"""The numbered SQL migrations of the POS schema, applied in order by `processor.ops.migrate`."""
