# vllm 0.33
vllm serve Qwen/Qwen2.5-32B-Instruct --tensor-parallel-size 2 --speculative-config '{"method":"draft_model","model":"Qwen/Qwen2.5-7B-Instruct","num_speculative_tokens":2}'
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-32B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 8, "temperature": 0.6, "top_p": 0.95, "max_tokens": 4096}
# note: Majority voting is client-side: send one request with n=8, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 60 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: vLLM refuses a draft model whose vocab_size differs from the target's (e.g. Qwen2.5 0.5B/1.5B/3B have 151936, 7B/14B/32B/72B have 152064): pick a draft of the same vocabulary.
# note: The draft model runs with the target's tensor-parallel size (2) unless speculative-config sets draft_tensor_parallel_size (only 1 or the target's size is allowed).
