# sglang 0.5.23
python -m sglang.launch_server --model-path deepseek-ai/DeepSeek-V3 --tp 8 --speculative-algorithm NEXTN --speculative-num-steps 1 --speculative-eagle-topk 1 --speculative-num-draft-tokens 2
# request: POST /generate {"text": "<PROMPT>", "sampling_params": {"n": 16, "temperature": 0.7, "top_p": 0.95, "max_new_tokens": 1024}}
# note: Majority voting is client-side: send one request with n=16, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 10 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: One plan request runs 16 sequences at once; raise --max-running-requests (default 48 with speculation) if several plan requests share the server.
