# vllm 0.33
vllm serve Qwen/Qwen2.5-7B-Instruct --tensor-parallel-size 1 --speculative-config '{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":5,"prompt_lookup_min":2}'
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 64, "temperature": 0.8, "top_p": 1.0, "max_tokens": 2048}
# note: Majority voting is client-side: send one request with n=64, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 60 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
