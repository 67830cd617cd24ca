"""A synthetic crowd of voters with known model strengths and known voter types.

:func:`simulate_crowd` draws votes the way an arena collects them: per task, each model has a
true Bradley-Terry strength; each vote shows a random ordered pair of models to one voter, who
answers according to a type:

``honest``
    Bradley-Terry with a left/right advantage ``h``, personal taste (each voter's strengths are
    the task's plus a small normal deviation), ties at a low rate and "both bad" mostly when
    both models are weak.
``noisy``
    An honest voter who looks less carefully: the strength gaps are multiplied by 0.4.
``random``
    A coin flip between left and right, quickly.
``always_left``
    Nearly always the left image (95%), very quickly.
``anti_consensus``
    The honest answer turned around: prefers the weaker model.
``rigger``
    Always picks one target model when it is shown, whatever it shows, and otherwise votes
    honestly. A rigger seeks out its model (it skips most pairs without it), so a share
    ``rigger_focus`` of its votes show the target; a campaign casts ``rigger_volume`` times the
    votes of an ordinary voter.
``tie_spammer``
    Answers tie or both bad 80% of the time, honestly otherwise.
``subtle_rigger``
    Honest on most votes; a share ``subtle_focus`` of its votes seek the target and pick it
    (the honest votes that happen to show the target are honest too).
``sybil``
    One of a swarm of short-lived identities, each casting exactly ``sybil_votes`` votes that
    seek the target (``sybil_focus``) and pick it whenever it is shown.
``taste``
    An honest voter with a consistent liking for one model family (the ``taste_family``
    weakest models, :attr:`Crowd.family`): those models' strengths are ``taste_boost`` logits
    higher for this voter, on every pair, and the voter is consensus-like elsewhere.

Votes per voter are skewed (log-normal weights, every voter at least one vote), like real
arenas where a few voters cast most votes. Everything is drawn from one seeded generator, so a
crowd is reproducible from its :class:`CrowdConfig`.

The rigger follows the "target-only" vote-rigging strategy of Min et al. (2025), "Improving
your model ranking on Chatbot Arena by vote rigging", arXiv:2501.17858; the honest voter is the
Bradley-Terry model with a position bias used throughout :mod:`scoring`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .bradley_terry import BASE_SCORE, SCALE
from .errors import ScoringError

VOTER_TYPES = ("honest", "noisy", "random", "always_left", "anti_consensus", "rigger",
               "tie_spammer", "subtle_rigger", "sybil", "taste")
#: Voter types a voter-quality screen should flag (``noisy`` and ``taste`` voters are honest).
BAD_TYPES = ("random", "always_left", "anti_consensus", "rigger", "tie_spammer",
             "subtle_rigger", "sybil")
DEFAULT_MIX = {"honest": 0.80, "noisy": 0.06, "random": 0.04, "always_left": 0.02,
               "anti_consensus": 0.02, "rigger": 0.03, "tie_spammer": 0.03}
DEFAULT_TASKS = ("object_removal", "background_change", "text_edit", "recolor")
#: Median seconds to vote, per type (log-normal, sigma 0.5).
MEDIAN_SECONDS = {"honest": 5.5, "noisy": 3.5, "random": 1.4, "always_left": 0.9,
                  "anti_consensus": 5.0, "rigger": 3.0, "tie_spammer": 3.0,
                  "subtle_rigger": 5.0, "sybil": 3.0, "taste": 5.5}
CHOICE_NAMES = ("left", "right", "tie", "both_bad")


@dataclass(frozen=True)
class CrowdConfig:
    """What to simulate; every field has a default, and ``seed`` makes it reproducible.

    ``spread`` is the gap in logits between the best and the worst model of a task (4 logits
    is about 700 points on the leaderboard scale); ``task_jitter`` moves each model's strength
    per task; ``taste`` is the standard deviation of an honest voter's personal deviation.
    ``rigged_rank`` places the target of riggers, subtle riggers and sybils in the field by
    mean strength (0 the best model, 1 the worst; the default is the lower middle).
    """

    voters: int = 2000
    votes: int = 100_000
    models: int = 8
    tasks: tuple[str, ...] = DEFAULT_TASKS
    mix: dict = field(default_factory=lambda: dict(DEFAULT_MIX))
    spread: float = 4.0
    task_jitter: float = 0.4
    position_bias: float = 0.1
    taste: float = 0.25
    tie_rate: float = 0.07
    both_bad_rate: float = 0.3
    skew: float = 1.2
    rigger_focus: float = 0.8
    rigger_volume: float = 4.0
    rigged_rank: float = 0.7
    subtle_focus: float = 0.3
    sybil_votes: int = 15
    sybil_focus: float = 0.8
    taste_family: int = 3
    taste_boost: float = 1.0
    durations: bool = True
    seed: int = 0

    def validate(self) -> None:
        if self.voters < 1 or self.votes < self.voters:
            raise ScoringError("need at least one voter and at least one vote per voter")
        if self.models < 3:
            raise ScoringError("need at least three models")
        if not self.tasks:
            raise ScoringError("need at least one task")
        unknown = sorted(set(self.mix) - set(VOTER_TYPES))
        if unknown:
            raise ScoringError(f"unknown voter type(s) {', '.join(unknown)}; expected "
                               + ", ".join(VOTER_TYPES))
        if any(v < 0 for v in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ScoringError("voter type shares must be non-negative and not all zero")
        for name in ("rigger_focus", "rigged_rank", "subtle_focus", "sybil_focus"):
            if not 0 <= getattr(self, name) <= 1:
                raise ScoringError(f"{name} must be between 0 and 1")
        if self.sybil_votes < 1 or self.taste_family < 1:
            raise ScoringError("sybil_votes and taste_family must be at least 1")


@dataclass(frozen=True, eq=False)
class Crowd:
    """Simulated votes (one row each, in the order cast) and the truth behind them.

    Vote columns index the label tuples: ``task`` → ``tasks``, ``voter`` → ``voters``,
    ``left``/``right`` → ``models``; ``choice`` holds codes into ``CHOICES`` (left, right, tie,
    both_bad); ``duration_ms`` is ``None`` when the config has ``durations=False``.
    ``strengths`` has shape (n_tasks, n_models) and is centred per task.
    """

    config: CrowdConfig
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    voters: tuple[str, ...]
    voter_type: np.ndarray          # (n_voters,) codes into VOTER_TYPES
    strengths: np.ndarray           # (n_tasks, n_models), logits
    rigged_model: int
    task: np.ndarray
    voter: np.ndarray
    left: np.ndarray
    right: np.ndarray
    choice: np.ndarray
    duration_ms: np.ndarray | None
    family: tuple[int, ...] = ()    # the models taste voters like

    def __len__(self) -> int:
        return len(self.choice)

    def types(self) -> np.ndarray:
        """Each voter's type name."""
        return np.array(VOTER_TYPES, dtype=object)[self.voter_type]

    def votes_per_voter(self) -> np.ndarray:
        return np.bincount(self.voter, minlength=len(self.voters))

    def columns(self) -> dict[str, np.ndarray]:
        """Battle-format columns (``model_a`` shown left, ``winner`` labels, ``judge``, ...)."""
        models = np.array(self.models, dtype=object)
        winners = np.array(("model_a", "model_b", "tie", "tie (bothbad)"), dtype=object)
        cols = {"model_a": models[self.left], "model_b": models[self.right],
                "winner": winners[self.choice],
                "judge": np.array(self.voters, dtype=object)[self.voter],
                "task": np.array(self.tasks, dtype=object)[self.task],
                "tstamp": np.arange(len(self), dtype=float)}
        if self.duration_ms is not None:
            cols["duration_ms"] = self.duration_ms.astype(float)
        return cols

    def truth(self) -> dict:
        """The truth as JSON-ready data: strengths and scores per task, each voter's type."""
        scores = BASE_SCORE + SCALE * self.strengths
        types = self.types()
        return {
            "config": {**asdict(self.config), "tasks": list(self.config.tasks)},
            "models": list(self.models),
            "tasks": {t: dict(zip(self.models, map(float, self.strengths[k])))
                      for k, t in enumerate(self.tasks)},
            "scores": {t: dict(zip(self.models, map(float, scores[k])))
                       for k, t in enumerate(self.tasks)},
            "position_bias": self.config.position_bias,
            "rigged_model": self.models[self.rigged_model],
            "taste_family": [self.models[k] for k in self.family],
            "voter_types": {t: int(np.sum(types == t)) for t in VOTER_TYPES},
            "voters": dict(zip(self.voters, types.tolist())),
        }


def _strengths(cfg: CrowdConfig, rng: np.random.Generator) -> np.ndarray:
    base = np.linspace(cfg.spread / 2, -cfg.spread / 2, cfg.models)
    theta = base[None, :] + rng.normal(0, cfg.task_jitter, (len(cfg.tasks), cfg.models))
    return theta - theta.mean(axis=1, keepdims=True)


def _assign_types(cfg: CrowdConfig, rng: np.random.Generator) -> np.ndarray:
    share = np.array([cfg.mix.get(t, 0.0) for t in VOTER_TYPES], dtype=float)
    share /= share.sum()
    counts = np.floor(share * cfg.voters).astype(int)
    rest = cfg.voters - counts.sum()
    counts[np.argsort(-(share * cfg.voters - counts))[:rest]] += 1
    return rng.permutation(np.repeat(np.arange(len(VOTER_TYPES)), counts))


def _votes_per_voter(cfg, types, rng) -> np.ndarray:
    weight = rng.lognormal(0.0, cfg.skew, cfg.voters)
    weight[types == VOTER_TYPES.index("rigger")] *= cfg.rigger_volume
    sybil = types == VOTER_TYPES.index("sybil")
    if not sybil.any():
        return 1 + rng.multinomial(cfg.votes - cfg.voters, weight / weight.sum())
    weight[sybil] = 0.0
    rest = cfg.votes - cfg.voters - int(sybil.sum()) * (cfg.sybil_votes - 1)
    if rest < 0 or not weight.any():
        raise ScoringError("too few votes for the sybils and the other voters")
    out = 1 + rng.multinomial(rest, weight / weight.sum())
    out[sybil] = cfg.sybil_votes
    return out


def _seek(left, right, target, wants, rng):
    """Put ``target`` on a random side of the pairs where ``wants`` and it is not shown."""
    seek = wants & (left != target) & (right != target)
    put_left = seek & (rng.random(len(left)) < 0.5)
    left[put_left] = target
    right[seek & ~put_left] = target


def simulate_crowd(config: CrowdConfig | None = None, **overrides) -> Crowd:
    """Draw a crowd's votes; see the module docstring for the voter types.

    Parameters
    ----------
    config : CrowdConfig, optional
        The settings; keyword ``overrides`` replace single fields (``voters=500, seed=3``).

    Returns
    -------
    Crowd
        The votes in casting order and the truth (strengths, voter types, rigged model).
    """
    cfg = config or CrowdConfig()
    if overrides:
        cfg = CrowdConfig(**{**asdict(cfg), **overrides})
    cfg = CrowdConfig(**{**asdict(cfg), "tasks": tuple(cfg.tasks)})
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    m, n_tasks = cfg.models, len(cfg.tasks)
    theta = _strengths(cfg, rng)
    # By default the rigged model sits in the lower middle, where rigging moves it most.
    order = np.argsort(-theta.mean(axis=0))
    rigged = int(order[int(cfg.rigged_rank * (m - 1) + 1e-9)])
    family = tuple(sorted(int(k) for k in order[m - min(cfg.taste_family, m - 1):]))
    types = _assign_types(cfg, rng)
    per_voter = _votes_per_voter(cfg, types, rng)
    n = int(per_voter.sum())
    voter = rng.permutation(np.repeat(np.arange(cfg.voters), per_voter))
    vtype = types[voter]
    task = rng.integers(n_tasks, size=n)
    left = rng.integers(m, size=n)
    right = rng.integers(m - 1, size=n)
    right += right >= left

    is_rigger = vtype == VOTER_TYPES.index("rigger")
    seek = is_rigger & (rng.random(n) < cfg.rigger_focus) & (left != rigged) & (right != rigged)
    put_left = seek & (rng.random(n) < 0.5)
    put_right = seek & ~put_left
    left[put_left] = rigged
    right[put_right] = rigged

    code = {t: VOTER_TYPES.index(t) for t in VOTER_TYPES}
    subtle = np.zeros(n, bool)
    if np.any(types == code["subtle_rigger"]):
        subtle = (vtype == code["subtle_rigger"]) & (rng.random(n) < cfg.subtle_focus)
        _seek(left, right, rigged, subtle, rng)
    sybil = vtype == code["sybil"]
    if sybil.any():
        _seek(left, right, rigged, sybil & (rng.random(n) < cfg.sybil_focus), rng)

    taste = rng.normal(0.0, cfg.taste, (cfg.voters, m))
    taste[np.ix_(types == code["taste"], family)] += cfg.taste_boost
    own_h = cfg.position_bias + rng.normal(0.0, 0.1, cfg.voters)
    ti, tj = theta[task, left], theta[task, right]
    gap = ti + taste[voter, left] - tj - taste[voter, right]
    gap = np.where(vtype == code["noisy"], 0.4 * gap, gap)
    gap = np.where(vtype == code["anti_consensus"], -gap, gap)
    p_left = 1.0 / (1.0 + np.exp(-(gap + own_h[voter])))
    p_left = np.where(vtype == code["random"], 0.5, p_left)
    p_left = np.where(vtype == code["always_left"], 0.95, p_left)

    p_bad = cfg.both_bad_rate / (1.0 + np.exp(ti + tj + 1.0))
    p_tie = np.full(n, cfg.tie_rate)
    no_ties = (vtype == code["random"]) | (vtype == code["always_left"])
    p_tie[no_ties], p_bad[no_ties] = 0.0, 0.0
    spam = vtype == code["tie_spammer"]
    p_tie[spam], p_bad[spam] = 0.5, 0.3

    u = rng.random(n)
    decisive_u = rng.random(n)
    choice = np.where(decisive_u < p_left, 0, 1)
    choice = np.where(u < p_tie, 2, np.where(u < p_tie + p_bad, 3, choice))
    rig = ((is_rigger | sybil) & ((left == rigged) | (right == rigged))) | subtle
    choice[rig] = np.where(left[rig] == rigged, 0, 1)

    duration = None
    if cfg.durations:
        median = np.array([MEDIAN_SECONDS[t] for t in VOTER_TYPES]) * 1000.0
        duration = np.rint(median[vtype] * rng.lognormal(0.0, 0.5, n)).astype(np.int64)

    width = max(5, len(str(cfg.voters - 1)))
    return Crowd(cfg, tuple(cfg.tasks), tuple(f"model-{k + 1:02d}" for k in range(m)),
                 tuple(f"voter-{k:0{width}d}" for k in range(cfg.voters)), types, theta,
                 rigged, task, voter, left, right, choice.astype(np.intp), duration, family)
