# sglang 0.5.23
python -m sglang.launch_server --model-path meta-llama/Llama-3.1-8B-Instruct --tp 1 --speculative-algorithm EAGLE3 --speculative-draft-model-path yuhuili/EAGLE3-LLaMA3.1-Instruct-8B --speculative-num-steps 4 --speculative-eagle-topk 4 --speculative-num-draft-tokens 16
# request: POST /generate {"text": "<PROMPT>", "sampling_params": {"n": 16, "temperature": 0.7, "top_p": 0.95, "max_new_tokens": 1024}}
# note: Majority voting is client-side: send one request with n=16, extract the final answer of each returned choice and return the most frequent one (ties: any).
# note: Deadline 10 s: stream the response and stop at the deadline; choices not finished by then do not vote (that is what the plan's predicted accuracy assumes).
# note: One plan request runs 16 sequences at once; raise --max-running-requests (default 48 with speculation) if several plan requests share the server.
