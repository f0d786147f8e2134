"""The edges above the pipeline: reading write-ups (``inputs``), rendering results (``outputs``),
exporting reviewed ones (``exports``), and mapping many at once in one process (``batch``) or on a
Dask cluster (``cluster``)."""
