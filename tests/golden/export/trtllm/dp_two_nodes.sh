# trtllm 1.3
trtllm-serve Qwen/Qwen2.5-7B-Instruct --backend pytorch --tp_size 2 --max_batch_size 8
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 8, "temperature": 0.7, "top_p": 0.95, "max_tokens": 2048}
# note: Majority voting is client-side: send one request with n=8, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 30 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: Layout: 4 replicas of TP 2; the plan routes each whole request (n = 8) to one replica, so at the planned arrival rate each replica serves 1/4 of the requests.
# note: trtllm-serve has no data parallelism for a dense model: start 4 servers of --tp_size 2 (CUDA_VISIBLE_DEVICES per replica) behind a load balancer.
# note: int4 weights: serve a checkpoint quantised for TensorRT-LLM (ModelOpt); the PyTorch backend reads its quantisation from the checkpoint.
# note: --max_batch_size 8: one plan request runs 8 sequences at once; raise it if several plan requests share the server.
