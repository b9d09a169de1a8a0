# sglang 0.5.23
python -m sglang.launch_server --model-path Qwen/Qwen2.5-32B-Instruct --tp 8 --nnodes 2 --node-rank 0 --dist-init-addr HEAD_NODE_IP:5000 --kv-cache-dtype bfloat16
# request: POST /generate {"text": "<PROMPT>", "sampling_params": {"n": 16, "temperature": 0.7, "top_p": 0.95, "max_new_tokens": 2048}}
# note: Majority voting is client-side: send one request with n=16, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 30 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: Multi-node TP 8: run this command on every node with --node-rank 0..1 and --dist-init-addr the first node's address.
