"""A transformers ``Trainer`` whose evaluation also generates answers and scores them.

Teacher-forced loss says little about VQA quality, so at each evaluation the trainer answers a fixed list of rows
greedily, one CT volume at a time (each volume decoded once and run through the vision tower once for all its
questions; each process a share of the volumes, gathered afterwards, so it works under ``accelerate launch`` /
``torchrun``) and passes the answers to ``answer_metrics(predictions, rows)``, e.g. ``rad3d_hf.scoring.score``; the numeric results
are logged as ``eval_<key>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from transformers import Trainer, TrainerCallback

from rad3d_hf.models.m3d_rad.inference import M3DRadAnswerer, PredictionCollator
from rad3d_hf.prediction.volume_work import answer_by_volume, group_by_volume, shard_groups


class AugmentationEpoch(TrainerCallback):
    """Sets ``augment.epoch`` at each epoch's start, so every epoch draws new (still seeded) augmentations.

    DataLoader workers are started anew each epoch (the Trainer does not keep them), so they see the new epoch.
    """

    def __init__(self, augment: Any) -> None:
        self.augment = augment

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.augment.epoch = int(state.epoch or 0)


class M3DRadTrainer(Trainer):
    """``Trainer`` + generation-based evaluation.

    Args (keyword-only, besides the usual ``Trainer`` ones):
        generation_rows: the rows answered at every evaluation (keep it small: generation is slow).
        generation_collator: a :class:`PredictionCollator` that makes their inputs.
        answer_metrics: ``(predictions, rows) -> {name: value}``; non-numeric values are not logged.
        max_new_tokens: generation length limit.
    """

    def __init__(
        self,
        *args: Any,
        generation_rows: Sequence[Mapping[str, Any]] = (),
        generation_collator: PredictionCollator | None = None,
        answer_metrics: Callable[[list[str], list[Mapping[str, Any]]], Mapping[str, Any]] | None = None,
        max_new_tokens: int = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if generation_rows and (generation_collator is None or answer_metrics is None):
            raise ValueError("generation_rows need a generation_collator and answer_metrics")
        self.generation_rows = list(generation_rows)
        self.generation_collator = generation_collator
        self.answer_metrics = answer_metrics
        self.max_new_tokens = max_new_tokens
        self.last_generated: dict[str, str] = {}

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        metrics: dict[str, float] = {}
        if eval_dataset is not None or self.eval_dataset is not None:
            metrics.update(super().evaluate(eval_dataset, ignore_keys, metric_key_prefix))
        if self.generation_rows:
            generated = self.generation_metrics(metric_key_prefix)
            self.log(generated)
            metrics.update(generated)
        return metrics

    def generate_all(self) -> dict[str, str]:
        """Answers to ``generation_rows`` as ``{id: answer}``: volumes shared out over the processes, then gathered."""
        from accelerate.utils import gather_object
        from tqdm.auto import tqdm

        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        world, rank = self.args.world_size, self.args.process_index
        rows = self.generation_rows
        answerer = M3DRadAnswerer(
            model,
            self.generation_collator.processor,
            collator=self.generation_collator,
            batch_size=self.args.per_device_eval_batch_size,
            max_new_tokens=self.max_new_tokens,
        )
        mine = shard_groups(group_by_volume([str(r["volume_name"]) for r in rows]), rank, world)
        pairs: list[tuple[str, str]] = []
        # Volumes decode in the DataLoader workers, as in training; the bar counts this process's volumes.
        work = answer_by_volume(answerer, rows, rows, mine, num_workers=self.args.dataloader_num_workers)
        quiet = self.args.disable_tqdm or not self.is_world_process_zero()
        for group, answers in tqdm(work, total=len(mine), desc="answering", unit="volume", disable=quiet):
            pairs.extend(zip((str(rows[i]["id"]) for i in group.indices), answers))
        if world > 1:
            pairs = gather_object(pairs)
        model.train(was_training)
        return dict(pairs)

    def generation_metrics(self, prefix: str = "eval") -> dict[str, float]:
        by_id = self.generate_all()
        self.last_generated = by_id
        predictions = [by_id[str(r["id"])] for r in self.generation_rows]
        scores = self.answer_metrics(predictions, self.generation_rows)
        return {
            f"{prefix}_{k}": float(v)
            for k, v in scores.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }


__all__ = ["AugmentationEpoch", "M3DRadTrainer"]
