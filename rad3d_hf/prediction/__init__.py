"""Answering a split at scale: questions grouped by CT volume, volumes shared out over processes, per-process part files.

- :mod:`.volume_work`: :class:`VolumeGroup` (one volume and its questions), :func:`group_by_volume`,
  :func:`shard_groups`, the :class:`VolumeAnswerer` protocol a model family implements (prepare a volume; answer
  that volume's questions) and :func:`answer_by_volume`, which decodes each volume once in DataLoader workers.
- :mod:`.parts`: the predictions files: per-process parts appended as answers come, resumable, merged into one
  file in the split's order.
- :mod:`.processes`: the process's place in an ``accelerate launch`` / ``torchrun`` run and a barrier.

Nothing here knows a model, the builder or the scoring.
"""
