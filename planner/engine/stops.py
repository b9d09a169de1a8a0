"""When a branch ends: EOS tokens and stop strings, found inside the several tokens a round may emit.

Why separate: a speculative round appends up to K+1 tokens at once, so the end can fall in the middle of a
round; the branch must be cut exactly there (tokens after EOS or after a stop string are dropped), or the
engine's output would differ from plain decoding. Stop strings are matched on decoded text (they may span
tokens), looking only at a short window at the end so the cost per round stays constant.
"""

from __future__ import annotations


class StopChecker:
    def __init__(self, tokenizer, stop: list[str] | tuple[str, ...] = ()):
        self.tok = tokenizer
        self.stop = [s for s in (stop or ()) if s]
        if self.stop and tokenizer is None:
            raise ValueError("stop strings need a tokenizer")
        self.window = max((len(s) for s in self.stop), default=0) + 2

    @staticmethod
    def first_eos(tokens: list[int], start: int, eos: set[int]) -> int | None:
        """Index of the first EOS token at or after `start`, or None."""
        for i in range(max(start, 0), len(tokens)):
            if tokens[i] in eos:
                return i
        return None

    def _decode(self, tokens: list[int]) -> str:
        return self.tok.decode(tokens, skip_special_tokens=True)

    def first_stop(self, tokens: list[int], n_new: int) -> int | None:
        """Smallest c such that tokens[:c] contains a stop string that the last n_new tokens completed."""
        if not self.stop or n_new <= 0:
            return None
        first_new = len(tokens) - n_new
        w0 = max(0, first_new - self.window)
        if not any(s in self._decode(tokens[w0:]) for s in self.stop):
            return None
        for c in range(first_new + 1, len(tokens) + 1):
            text = self._decode(tokens[w0:c])
            if any(s in text for s in self.stop):
                return c
        return None

    def final_text(self, tokens: list[int]) -> str:
        text = self._decode(tokens)
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        return text[:cut] if cut >= 0 else text
