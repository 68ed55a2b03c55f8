"""Bootstrap resampling from sufficient statistics, in memory that does not grow with resamples.

Resampling n rows with replacement is the same random experiment as (1) drawing how many of the
n draws land in each cell of a partition of the rows — a multinomial over the cells with
probabilities size/n — and then (2) spreading each cell's draws uniformly over its own rows.
Rate metrics (selection rate, TPR, FPR, ...) depend on the rows only through confusion counts
per (group, y_true, y_pred) cell, so for them step (1) suffices: O(cells) per resample whatever
n is. Metrics that need the rows themselves (ROC AUC, regression errors) also take step (2) for
the same resample, which costs O(n) time and memory per resample, reused across resamples; the
(n_bootstrap, n) index matrix of a naive bootstrap is never built.
"""

from dataclasses import dataclass

import numpy as np


def cell_counts(rng: np.random.Generator, sizes: np.ndarray, n_bootstrap: int) -> np.ndarray:
    """(n_bootstrap, n_cells) resampled cell counts, each row summing to sizes.sum()."""
    n = int(sizes.sum())
    return rng.multinomial(n, sizes / n, size=n_bootstrap)


@dataclass(frozen=True)
class RowLayout:
    """Rows sorted by cell: `order` sorts the original rows; cell k spans starts[k]:+sizes[k]."""

    order: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray

    @classmethod
    def from_cells(cls, cells: np.ndarray, n_cells: int) -> "RowLayout":
        sizes = np.bincount(cells, minlength=n_cells)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        return cls(np.argsort(cells, kind="stable"), starts, sizes)

    def row_weights(self, rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
        """How often each (cell-sorted) row is drawn, given the resample's cell counts."""
        weights = np.zeros(len(self.order), dtype=np.float64)
        # One cell at a time: scalar bounds draw twice as fast as a per-draw bound array, and
        # only one cell's draws are alive at once.
        for start, size, count in zip(
            self.starts.tolist(), self.sizes.tolist(), counts.tolist(), strict=True
        ):
            if count:
                drawn = np.bincount(rng.integers(0, size, count), minlength=size)
                weights[start : start + size] = drawn
        return weights


@dataclass(frozen=True)
class _Blocks:
    """Classes of one partition merged into tie blocks of equal (group, score), ordered by
    group then score; every group owns the contiguous blocks first[g]:first[g + 1]."""

    key: np.ndarray  # per class: 2 * block + y_true, so one bincount gives both classes
    first: np.ndarray
    blocks_per_group: np.ndarray


@dataclass(frozen=True)
class AucClasses:
    """Rows merged into classes of equal (cell, score), with ROC AUC per group of partitions.

    Rows only matter to AUC through how often each (group, y_true, score) occurs, so after the
    O(n) step that sums row weights into classes, every partition costs O(classes): few when
    scores repeat, and never more than the rows.
    """

    class_of_row: np.ndarray
    n_classes: int
    blocks: list[_Blocks]

    @classmethod
    def build(
        cls,
        cells: np.ndarray,
        scores: np.ndarray,
        positive_cell: np.ndarray,
        partitions: list[np.ndarray],
    ) -> "AucClasses":
        """`partitions` holds, per partition, the group of each cell; every group has rows."""
        order = np.lexsort((scores, cells))
        c, s = cells[order], scores[order]
        new = np.ones(len(c), dtype=bool)
        new[1:] = (c[1:] != c[:-1]) | (s[1:] != s[:-1])
        class_of_row = np.empty(len(c), dtype=np.int64)
        class_of_row[order] = np.cumsum(new) - 1
        class_cell, class_score = c[new], s[new]
        positive = positive_cell[class_cell].astype(np.int64)
        blocks = []
        for cell_group in partitions:
            groups = cell_group[class_cell]
            by_score = np.lexsort((class_score, groups))
            g, sc = groups[by_score], class_score[by_score]
            starts = np.ones(len(g), dtype=bool)
            starts[1:] = (g[1:] != g[:-1]) | (sc[1:] != sc[:-1])
            block = np.empty(len(g), dtype=np.int64)
            block[by_score] = np.cumsum(starts) - 1
            block_group = g[starts]
            first = np.flatnonzero(np.r_[True, block_group[1:] != block_group[:-1]])
            per_group = np.diff(np.r_[first, len(block_group)])
            blocks.append(_Blocks(2 * block + positive, first, per_group))
        return cls(class_of_row, int(new.sum()), blocks)

    def auc(self, row_weights: np.ndarray) -> list[np.ndarray]:
        """Weighted ROC AUC per group of each partition (Mann-Whitney, ties count one half).

        NaN where a group has only one class. With integer weights every sum is an exact
        integer or half-integer in float64, so this is the AUC of the replicated rows up to
        the final division.
        """
        weights = np.bincount(self.class_of_row, weights=row_weights, minlength=self.n_classes)
        results = []
        for part in self.blocks:
            n_blocks = int(part.blocks_per_group.sum())
            both = np.bincount(part.key, weights=weights, minlength=2 * n_blocks).reshape(-1, 2)
            neg, pos = both[:, 0].copy(), both[:, 1].copy()
            cum_neg = np.cumsum(neg)
            neg_before = cum_neg - neg
            # Negatives scoring below a block, counted within its own group only.
            below = neg_before - np.repeat(neg_before[part.first], part.blocks_per_group)
            num = np.add.reduceat(pos * (below + 0.5 * neg), part.first)
            total_pos = np.add.reduceat(pos, part.first)
            total_neg = np.add.reduceat(neg, part.first)
            with np.errstate(invalid="ignore", divide="ignore"):
                results.append(num / (total_pos * total_neg))
        return results


def percentile_intervals(
    samples: np.ndarray, confidence: float
) -> tuple[list[tuple[float, float] | None], list[int]]:
    """Per column of (n_bootstrap, k) samples: the percentile interval and how many were finite.

    Resamples where a metric is undefined (a group drew no positives, say) are left out rather
    than counted as 0; the count of usable resamples is returned so the caller can report it.
    """
    alpha = (1.0 - confidence) / 2.0
    intervals: list[tuple[float, float] | None] = []
    valid: list[int] = []
    for column in np.asarray(samples, dtype=np.float64).T:
        finite = column[np.isfinite(column)]
        valid.append(int(finite.size))
        if finite.size == 0:
            intervals.append(None)
            continue
        lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
        intervals.append((float(lo), float(hi)))
    return intervals, valid


def one_hot(mapping: np.ndarray, n_targets: int) -> np.ndarray:
    """(len(mapping), n_targets) 0/1 matrix that sums finest-group statistics into coarser groups."""
    matrix = np.zeros((len(mapping), n_targets))
    matrix[np.arange(len(mapping)), mapping] = 1.0
    return matrix


def rates_from_counts(tn: np.ndarray, fp: np.ndarray, fn: np.ndarray, tp: np.ndarray) -> dict:
    """Fairlearn/scikit-learn rate definitions from confusion counts; NaN where 0/0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n = tn + fp + fn + tp
        return {
            "selection_rate": (tp + fp) / n,
            "accuracy": (tp + tn) / n,
            "precision": tp / (tp + fp),
            "true_positive_rate": tp / (tp + fn),
            "false_positive_rate": fp / (fp + tn),
            "false_negative_rate": fn / (tp + fn),
        }
