"""Text side of the pipeline: Kaldi symbol tables, corpus readers, normalisation, batching."""
