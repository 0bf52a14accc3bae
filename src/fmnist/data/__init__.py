"""Data: the IDX codec, dataset sources (mirrors, folders, the synthetic generator) and preparation."""
