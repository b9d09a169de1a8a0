"""A character-level tokenizer with a fixed vocabulary, saved as a standard `PreTrainedTokenizerFast`.

Why fixed: the target and the draft must share token ids, and the vocabulary must not depend on the
training data, so `AutoTokenizer.from_pretrained(DIR)` works offline and is identical on every machine.
Encoding a text adds BOS; the chat template renders the last user message verbatim (after BOS), so a
caller that applies the chat template and one that tokenizes the raw question get the same ids.
"""

from __future__ import annotations

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
CHARS = "0123456789+-*=;:,QAcn "
VOCAB = {tok: i for i, tok in enumerate(list(SPECIALS) + list(CHARS))}
CHAT_TEMPLATE = "{{ bos_token }}{{ messages[-1]['content'] }}"


def build_tokenizer():
    """A fresh `PreTrainedTokenizerFast`: one token per character, BOS prepended, EOS/PAD/UNK set."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=dict(VOCAB), unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", BOS_ID)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        padding_side="left", model_max_length=256)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def encode(text: str) -> list[int]:
    """Fast pure-Python encoding used by the training loop; equals the tokenizer's ids without BOS."""
    return [VOCAB.get(c, UNK_ID) for c in text]
