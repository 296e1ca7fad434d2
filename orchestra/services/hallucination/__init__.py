"""Answer checks: claim by claim against sources, across samples, and of the response itself."""

from .claims import split_claims, split_sentences
from .detector import HALLUCINATED, OK, SUSPECT, UNCHECKED, HallucinationDetector

__all__ = ["HALLUCINATED", "OK", "SUSPECT", "UNCHECKED", "HallucinationDetector",
           "split_claims", "split_sentences"]
