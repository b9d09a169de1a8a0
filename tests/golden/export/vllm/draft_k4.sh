# vllm 0.33
vllm serve Qwen/Qwen2.5-3B-Instruct --tensor-parallel-size 1 --speculative-config '{"method":"draft_model","model":"Qwen/Qwen2.5-0.5B-Instruct","num_speculative_tokens":4}'
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-3B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 16, "temperature": 0.7, "top_p": 0.95, "max_tokens": 1024}
# note: Majority voting is client-side: send one request with n=16, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 10 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: vLLM refuses a draft model whose vocab_size differs from the target's (e.g. Qwen2.5 0.5B/1.5B/3B have 151936, 7B/14B/32B/72B have 152064): pick a draft of the same vocabulary.
