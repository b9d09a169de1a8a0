# vllm 0.33
vllm serve deepseek-ai/DeepSeek-V3 --tensor-parallel-size 8 --speculative-config '{"method":"mtp","num_speculative_tokens":1}'
# request: POST /v1/chat/completions {"model": "deepseek-ai/DeepSeek-V3", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 16, "temperature": 0.7, "top_p": 0.95, "max_tokens": 1024}
# note: Majority voting is client-side: send one request with n=16, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 10 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
