# vllm 0.33
vllm serve Qwen/Qwen2.5-1.5B-Instruct --tensor-parallel-size 1 --speculative-config '{"method":"ngram","num_speculative_tokens":2,"prompt_lookup_max":4,"prompt_lookup_min":1}'
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-1.5B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 16, "temperature": 1.0, "top_p": 1.0, "max_tokens": 1024}
# note: best_of_n needs an external reward model that the engine does not run: request n=16 choices, score each (question, choice) with your reward model and return the highest-scoring choice. Do not use the engine's own best_of (it ranks by log-probability, not by reward).
