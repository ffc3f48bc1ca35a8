"""Company Brain: one self-hosted company model, AI factory, decisions and delivery."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Brain", "BrainError"]


def __getattr__(name: str) -> Any:
    # lazy, so that `import companybrain.errors` stays cheap
    if name == "Brain":
        from companybrain.brain import Brain

        return Brain
    if name == "BrainError":
        from companybrain.errors import BrainError

        return BrainError
    raise AttributeError(name)
