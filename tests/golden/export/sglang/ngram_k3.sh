# sglang 0.5.23
python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --tp 1 --speculative-algorithm NGRAM --speculative-num-steps 3 --speculative-eagle-topk 1 --speculative-num-draft-tokens 4 --speculative-ngram-min-bfs-breadth 1 --speculative-ngram-max-bfs-breadth 1 --max-running-requests 64
# request: POST /generate {"text": "<PROMPT>", "sampling_params": {"n": 64, "temperature": 0.8, "top_p": 1.0, "max_new_tokens": 2048}}
# note: Majority voting is client-side: send one request with n=64, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 60 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: SGLang >= 0.5.10 matches n-grams through a suffix trie (--speculative-ngram-max-trie-depth, default 18); the plan's n-gram window is not used.
# note: One plan request runs 64 sequences at once; raise --max-running-requests (default 48 with speculation) if several plan requests share the server.
