"""The Hub dataset repository: the export of Parquet shards and volumes (:mod:`~rad3d_hf.hub.export`) and its card
(:mod:`~rad3d_hf.hub.card`)."""
