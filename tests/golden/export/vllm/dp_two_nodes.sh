# vllm 0.33
vllm serve Qwen/Qwen2.5-7B-Instruct --tensor-parallel-size 2 --data-parallel-size 4 --nnodes 2 --node-rank 0 --master-addr HEAD_NODE_IP
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 8, "temperature": 0.7, "top_p": 0.95, "max_tokens": 2048}
# note: Majority voting is client-side: send one request with n=8, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 30 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: Layout: 4 replicas of TP 2; the plan routes each whole request (n = 8) to one replica, so at the planned arrival rate each replica serves 1/4 of the requests.
# note: Multi-node (2 nodes of 4 GPUs): run this command on every node with --node-rank 0..1 and --master-addr the first node's address (vLLM's multiprocessing backend; with Ray installed, --data-parallel-backend ray or --distributed-executor-backend ray launch from the head node instead).
# note: int4 weights: serve a pre-quantised checkpoint (AWQ or GPTQ); vLLM reads the method from its quantization_config, so no flag is needed.
