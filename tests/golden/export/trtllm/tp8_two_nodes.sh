# trtllm 1.3
trtllm-serve Qwen/Qwen2.5-32B-Instruct --backend pytorch --tp_size 8 --max_batch_size 16 --gpus_per_node 4
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-32B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 16, "temperature": 0.7, "top_p": 0.95, "max_tokens": 2048}
# note: Majority voting is client-side: send one request with n=16, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 30 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: Multi-node TP 8: launch under MPI over the 2 nodes (mpirun -n 8 trtllm-llmapi-launch trtllm-serve ...).
# note: --max_batch_size 16: one plan request runs 16 sequences at once; raise it if several plan requests share the server.
