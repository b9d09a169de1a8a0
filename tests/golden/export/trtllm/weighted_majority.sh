# trtllm 1.3
trtllm-serve Qwen/Qwen2.5-3B-Instruct --backend pytorch --tp_size 1 --max_batch_size 4
# request: POST /v1/chat/completions {"model": "Qwen/Qwen2.5-3B-Instruct", "messages": [{"role": "user", "content": "<PROMPT>"}], "n": 4, "temperature": 0.7, "top_p": 0.9, "max_tokens": 512}
# note: weighted_majority needs an external reward model: request n=4 choices, score each with your reward model, sum the scores per distinct final answer and return the answer with the largest total.
# note: Deadline 5 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: --max_batch_size 4: one plan request runs 4 sequences at once; raise it if several plan requests share the server.
