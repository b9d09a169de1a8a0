# sglang 0.5.23
python -m sglang.launch_server --model-path Qwen/Qwen2.5-1.5B-Instruct --tp 1 --speculative-algorithm NGRAM --speculative-num-steps 2 --speculative-eagle-topk 1 --speculative-num-draft-tokens 3 --speculative-ngram-min-bfs-breadth 1 --speculative-ngram-max-bfs-breadth 1
# request: POST /generate {"text": "<PROMPT>", "sampling_params": {"n": 16, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 1024}}
# note: best_of_n needs an external reward model that the engine does not run: request n=16 choices, score each (question, choice) with your reward model and return the highest-scoring choice. Do not use the engine's own best_of (it ranks by log-probability, not by reward).
# note: SGLang >= 0.5.10 matches n-grams through a suffix trie (--speculative-ngram-max-trie-depth, default 18); the plan's n-gram window is not used.
# note: One plan request runs 16 sequences at once; raise --max-running-requests (default 48 with speculation) if several plan requests share the server.
