# sglang 0.5.23
python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --tp 2 --dp 2
# request: POST /generate {"text": "<PROMPT>", "sampling_params": {"n": 8, "temperature": 0.7, "top_p": 0.95, "max_new_tokens": 2048}}
# note: Majority voting is client-side: send one request with n=8, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 30 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: Layout: 4 replicas of TP 2; the plan routes each whole request (n = 8) to one replica, so at the planned arrival rate each replica serves 1/4 of the requests.
# note: Multi-node: run this server on each of the 2 nodes (2 replica(s) each) and put SGLang's router in front: python -m sglang_router.launch_router --worker-urls http://NODE1:30000 http://NODE2:30000 ... (it balances whole requests).
# note: int4 weights: serve a pre-quantised AWQ or GPTQ checkpoint; SGLang reads the method from its quantization_config.
