# sglang 0.5.23
python -m sglang.launch_server --model-path Qwen/Qwen2.5-32B-Instruct --tp 2 --speculative-algorithm STANDALONE --speculative-draft-model-path Qwen/Qwen2.5-7B-Instruct --speculative-num-steps 2 --speculative-eagle-topk 1 --speculative-num-draft-tokens 3
# request: POST /generate {"text": "<PROMPT>", "sampling_params": {"n": 8, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 4096}}
# note: Majority voting is client-side: send one request with n=8, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 60 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: SGLang does not compare the two models' vocabularies: the draft must use the target's tokenizer (all Qwen2.5 sizes do, although 7B+ pad vocab_size to 152064), or acceptance collapses.
# note: One plan request runs 8 sequences at once; raise --max-running-requests (default 48 with speculation) if several plan requests share the server.
