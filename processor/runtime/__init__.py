"""One delivery's way through the processor, in reading order: batching, dispatch, transaction."""
